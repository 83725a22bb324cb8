"""What the result rests on, on the page and the terminal: every training of the chosen reward, the verdict
against the env reward, reward-hacking flags; readable plots. Built from constructed run directories (no
training), so the statistics and their presentation are checked directly."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
from rich.console import Console

from eureka.analyze.estimate import Training, estimate, verdict
from eureka.report import print_summary, result_lines
from eureka.report.html import render_report
from eureka.report.plots import seed_labels
from eureka.report.rundata import load_run


def make_run(root: Path, selection: dict[int, float], held_out: dict[int, float], final: dict[int, float],
             env: dict[int, float], sparse: dict[int, float], lengths: list[float] | None = None,
             comp_mean: float = 1.0, env_len: float = 100.0, final_len: float = 100.0) -> Path:
    """A finished run directory as the loop writes it: summary.json (with chosen_reward and the verdict as
    eureka.evolve.summary computes them), a candidate's metrics.jsonl, the trainings' fitness.json files."""
    root.mkdir(parents=True)
    ts = ([Training(s, "selection", v) for s, v in selection.items()]
          + [Training(s, "held_out", v) for s, v in held_out.items()]
          + [Training(s, "final", v) for s, v in final.items()])
    est, vs = estimate(ts), verdict(list(final.values()), list(env.values()))
    best_fit = sum(selection.values()) / len(selection)

    def stats(per: dict[int, float]) -> dict:
        vals = list(per.values())
        mean = sum(vals) / len(vals)
        return {"seeds": list(per), "per_seed": {str(k): v for k, v in per.items()}, "mean": mean,
                "std": (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5}

    rows = [{"id": "iter0_sample0", "status": "ok", "fitness": best_fit, "parent": None, "island": 0,
             "search_seeds": {str(k): v for k, v in selection.items()}, "signals": []},
            {"id": "iter0_sample1", "status": "ok", "fitness": 0.0, "parent": None, "island": 0,
             "search_seeds": {"0": 0.0}, "signals": []}]
    summary = {"task": "hazard", "llm": "offline", "status": "completed", "fitness_metric": "share of steps",
               "best_candidate": "iter0_sample0", "best_fitness": stats(held_out)["mean"],
               "best_selection_fitness": best_fit, "best_confirmed": {**stats(held_out), "candidate": "iter0_sample0"},
               "best_search_seeds": {str(k): v for k, v in selection.items()},
               "search_seed": 0, "search_seeds": sorted(set(selection) | set(held_out)),
               "iterations": [{"iteration": 0, "candidates": rows}],
               "final_eval": stats(final), "baselines": {"env_reward_fitness": stats(env)["mean"],
                                                         "sparse_fitness": stats(sparse)["mean"],
                                                         "env_reward": stats(env), "sparse": stats(sparse)},
               "chosen_reward": est.to_dict(), "chosen_reward_detail": est.detail(), "verdict_vs_env": vs.verdict, "verdict_vs_env_detail": vs.to_dict(),
               "human_normalized_score": None, "population": ["iter0_sample0"], "llm_usage": {}, "wall_time_s": 12.0}
    (root / "summary.json").write_text(json.dumps(summary))
    d = root / "candidates" / "iter0_sample0"
    d.mkdir(parents=True)
    (d / "reward.py").write_text("def compute_reward(altitude):\n    return altitude, {'a': altitude}\n")
    lens = lengths or [60.0] * 6
    (d / "metrics.jsonl").write_text("".join(json.dumps(
        {"step": 1000 * i, "episodes": 4, "fitness": 0.0, "episode_length": n,
         "components": {"fuel_penalty": {"mean": comp_mean, "std": 0.1, "min": -2, "max": 0}}}) + "\n"
        for i, n in enumerate(lens)))
    (root / "candidates" / "iter0_sample1").mkdir()
    for sub, prefix, per, n in (("final", "best", final, final_len), ("baselines", "env", env, env_len),
                                ("baselines", "sparse", sparse, env_len)):
        for s, v in per.items():
            fd = root / sub / f"{prefix}_seed{s}"
            fd.mkdir(parents=True)
            (fd / "fitness.json").write_text(json.dumps({"status": "ok", "fitness": v, "eval_lengths": [n] * 3,
                                                         "steps": 100}))
    return root


def bimodal_run(root: Path) -> Path:
    """The issue's game: 7 trainings of the chosen reward, 4 reached 0.9, 3 collapsed to 0."""
    return make_run(root, {0: 0.9, 7919: 0.9}, {15838: 0.0, 23757: 0.0, 31676: 0.0}, {1: 0.9, 2: 0.9},
                    env={1: 0.6, 2: 0.7}, sparse={1: 0.0, 2: 0.0})


def tie_run(root: Path) -> Path:
    """The MuJoCo case: the chosen reward's mean above the env reward's, within the spread."""
    return make_run(root, {0: 3.2, 7919: 2.9}, {15838: 1.4, 23757: 2.6, 31676: 2.2}, {1: 2.9, 2: 1.2, 3: 3.1},
                    env={1: 2.5, 2: 2.0, 3: 2.8}, sparse={1: 0.3, 2: 0.5, 3: 0.1})


def _svgs(page: str) -> list[str]:
    return [base64.b64decode(m).decode() for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_a_bimodal_result_is_plotted_and_said_in_words(tmp_path):
    run = load_run(bimodal_run(tmp_path / "run"))
    page = render_report(run)
    assert "4 of 7 trainings reached 0.9; 3 ended at 0" in page
    assert "bimodal" in page
    chosen = page[page.index('id="chosen"'):]
    assert 'alt="every training of the chosen reward"' in chosen
    # the headline's first card is the estimate over every training, not the final seeds alone
    assert chosen.index("chosen reward: all trainings") < chosen.index("final re-training")
    assert run.chosen.n_trainings == 7 and run.chosen.bimodal


def test_the_terminal_prints_one_estimate_every_baseline_with_its_spread_and_the_verdict(tmp_path):
    summary = json.loads((tie_run(tmp_path / "run") / "summary.json").read_text())
    assert summary["verdict_vs_env"] == "tie"
    lines = "\n".join(result_lines(summary))
    assert "Result: chosen reward iter0_sample0" in lines and "mean of all 8 trainings" in lines
    assert "held-out search seeds 15838, 23757, 31676" in lines and "final seeds 1, 2, 3" in lines
    for name, key in (("env reward", "env_reward"), ("sparse fitness", "sparse")):
        vals = list(summary["baselines"][key]["per_seed"].values())
        assert f"{name} {np.mean(vals):.3f} +- {np.std(vals):.3f} (seeds 1, 2, 3)" in lines, lines
    assert "Verdict against the env reward: TIE" in lines and "P(chosen > env reward) = " in lines
    console = Console(record=True, width=200)
    print_summary(summary, console, "run", "def compute_reward(x):\n    return x\n")
    text = console.export_text()
    # one fitness per candidate with its basis: the table's column says what it is; the best-reward line
    # carries no second, contradicting number
    assert "fitness (search seeds)" in text
    assert "Best reward (iter0_sample0; its fitness on every training: Result below)" in text


def test_tie_on_the_page(tmp_path):
    page = render_report(load_run(tie_run(tmp_path / "run")))
    assert '<span class="verdict tie">tie</span>' in page and "the interval contains 0.5" in page


def test_early_termination_is_flagged_in_the_report(tmp_path):
    root = make_run(tmp_path / "run", {0: 0.0, 7919: 0.0}, {15838: 0.0}, {1: 0.0, 2: 0.0}, env={1: 0.8, 2: 0.9},
                    sparse={1: 0.0, 2: 0.0}, lengths=[71.0, 40.0, 20.0, 9.0, 6.0, 5.6], comp_mean=-2.0,
                    final_len=5.6)
    run = load_run(root)
    page = render_report(run)
    assert "early termination" in page and "short episodes" in page
    best = run.best
    assert best is not None and "early_termination" in run.flags_for(best)
    table = page[page.index('id="candidates"'):]
    assert "early termination" in table[:table.index("</table>")]


def test_plots_stay_readable_when_every_value_is_equal(tmp_path):
    root = make_run(tmp_path / "run", {0: 0.0, 7919: 0.0}, {15838: 0.0}, {1: 0.0, 2: 0.0, 3: 0.0},
                    env={1: 0.0, 2: 0.0, 3: 0.0}, sparse={1: 0.0, 2: 0.0, 3: 0.0})
    for svg in _svgs(render_report(load_run(root))):
        assert "1e-17" not in svg and "1e−17" not in svg and "−1.4" not in svg
    labels = seed_labels([("1", 0.0), ("2", 0.0), ("3", 0.0)], span=1.0)
    assert labels == [(0.0, "seeds 1, 2, 3")]  # one label, not three on top of each other


def test_seed_labels_never_overlap():
    pts = [("1", 1.0), ("2", 1.001), ("3", 1.16), ("4", 1.2), ("5", 3.0)]
    labels = seed_labels(pts, span=2.0, min_gap=0.07)
    ys = [y for y, _ in labels]
    assert all(b - a >= 0.14 - 1e-9 for a, b in zip(ys, ys[1:], strict=False))
    assert [t for _, t in labels] == ["seeds 1, 2", "seeds 3, 4", "seed 5"]


def test_a_long_label_says_how_many_seeds_instead_of_running_into_the_next_column():
    labels = seed_labels([(str(s), 500.0) for s in (15838, 31676, 39595, 47514, 55433)], span=400.0)
    assert labels == [(500.0, "5 seeds")]
