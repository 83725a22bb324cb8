"""report.html, the comparison page, eureka-show and the TensorBoard scalars, on a real run directory."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from eureka.report import report_after_run
from eureka.report.cli import main as report_main
from eureka.report.html import write_report
from eureka.report.rundata import fmt, load_run
from eureka.report.show import main as show_main

pytestmark = pytest.mark.e2e  # the run_dir fixture is a real eureka run: make test, not test-fast


def _copy(run_dir: Path, tmp_path: Path, name: str = "copy") -> Path:
    dst = tmp_path / name
    shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns("policy.zip", "tb", "tb_run", "report.html"))
    return dst


def _summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def test_the_run_writes_its_report_and_tensorboard_scalars(run_dir):
    page = (run_dir / "report.html").read_text()
    summary = _summary(run_dir)
    fe = summary["final_eval"]
    # the headline is the chosen reward over all its trainings (issue 31), then the final re-training over the
    # final seeds; the search fitness is labelled optimistic
    assert "chosen reward: all trainings (the result)" in page and "final re-training" in page
    assert f"mean of {summary['chosen_reward']['n_trainings']} trainings" in page
    assert f"{fe['mean']:.3g}" in page
    seeds = ", ".join(summary["best_search_seeds"])
    held_out = ", ".join(str(s) for s in summary["best_confirmed"]["seeds"])
    # racing chose it on 2 seeds, confirmation measured it on 3 others: the card says which number is which
    assert f"mean over held-out search seeds {held_out}, which played no part" in page
    assert f"mean over search seeds {seeds} that chose it" in page and "optimistic" in page
    for it in summary["iterations"]:
        for c in it["candidates"]:
            assert c["id"] in page
    # self-contained: plots are data URIs, nothing is fetched from the network or from disk
    assert page.count('src="data:image/svg+xml;base64,') >= 3
    assert 'src="data:video/mp4;base64,' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert '<div class="highlight">' in page and "compute_reward" in page
    # TensorBoard: fitness/ and llm/ written post hoc next to SB3's per-candidate train/ and reward/
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb_run"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"fitness/best_so_far", "fitness/final_mean", "fitness/env_reward_baseline_mean",
            "llm/prompt_tokens"} <= tags
    best = [ev.value for ev in acc.Scalars("fitness/best_so_far")]
    assert best == sorted(best) and best[-1] == pytest.approx(summary["best_selection_fitness"])
    confirmed = [ev.value for ev in acc.Scalars("fitness/confirmed_mean")]  # held-out seeds: what the search reports
    assert confirmed == [pytest.approx(summary["best_fitness"])] == [pytest.approx(summary["best_confirmed"]["mean"])]
    cand_tb = EventAccumulator(str(next((run_dir / "candidates").glob("*/tb/*"))))
    cand_tb.Reload()
    assert any(t.startswith("reward/") for t in cand_tb.Tags()["scalars"])


def test_a_running_run_without_summary_or_final(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    (run / "summary.json").unlink()
    shutil.rmtree(run / "final")
    shutil.rmtree(run / "baselines")
    events = (run / "events.jsonl").read_text().splitlines()
    keep = [e for e in events if json.loads(e)["event"] not in ("run_finished",)]
    (run / "events.jsonl").write_text("\n".join(keep[: len(keep) // 2]) + '\n{"time": 1, "event": "trai')
    data = load_run(run)
    assert data.status == "running" and not data.finished
    assert data.candidates and all(c.id.startswith("iter") for c in data.candidates)
    page = write_report(run).read_text()
    assert "running" in page and "pending" in page and "last activity" in page


def test_a_stopped_run_and_the_new_summary_keys(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    s = _summary(run)
    s.update(status="stopped", message="LLM budget reached: stopping the search", search_seed=7,
             search_seeds=[7, 7926],
             human_normalized_score_note="the baselines are 0.4 apart, their seeds spread by 30")
    s["final_eval"]["seeds"] = [int(k) for k in s["final_eval"]["per_seed"]]
    (run / "summary.json").write_text(json.dumps(s))
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(cfg.replace("notes: []", "notes:\n- keep the cart centred", 1))
    best = s["best_candidate"]
    (run / "preference_scores.json").write_text(json.dumps({"scores": {best: 0.7}, "notes": {best: ["less alive"]}}))
    data = load_run(run)
    assert data.search_seed == 7 and data.final_seeds == ["1", "2"]
    page = write_report(run).read_text()
    assert "stopped" in page and "LLM budget reached" in page
    assert "the search ran with seeds 7, 7926 (racing: the selected reward on" in page
    assert "their seeds spread by 30" in page
    assert "keep the cart centred" in page  # the run's notes went into every prompt
    assert 'id="preferences"' in page and "less alive" in page


def test_a_reused_search_seed_is_flagged(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    s = _summary(run)
    s["search_seed"] = 1
    (run / "summary.json").write_text(json.dumps(s))
    with (run / "events.jsonl").open("a") as f:  # a failed recording can leave a torn rollout.mp4 behind
        f.write(json.dumps({"time": 2e9, "event": "video_failed", "id": s["best_candidate"],
                            "message": "renderer crashed"}) + "\n")
    page = write_report(run).read_text()
    assert "Seed 1 is both the search seed and a final re-training seed" in page
    assert "No rollout video: renderer crashed" in page


def test_comparison_page_and_cli(run_dir, tmp_path, capsys):
    other = _copy(run_dir, tmp_path, "seed1")
    s = _summary(other)
    s["final_eval"] = {"per_seed": {"3": 100.0, "4": 120.0}, "mean": 110.0, "std": 10.0}
    (other / "summary.json").write_text(json.dumps(s))
    out = tmp_path / "cmp.html"
    assert report_main([str(run_dir), str(other), "-o", str(out), "--no-tensorboard"]) == 0
    page = out.read_text()
    assert "2 runs compared" in page and "seed1" in page and "110 ± 10" in page
    assert page.count('src="data:image/svg+xml;base64,') == 1
    assert "Across runs" in page
    assert report_main([str(tmp_path / "nope")]) == 2
    assert f"eureka-report: error: no such run directory: {tmp_path / 'nope'}" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert report_main([str(tmp_path / "empty")]) == 2
    assert "is not a eureka run directory" in capsys.readouterr().err


def test_eureka_show(run_dir, capsys):
    assert show_main([str(run_dir)]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the panel's wrapped lines as one text
    summary = _summary(run_dir)
    held = ", ".join(str(s) for s in summary["best_confirmed"]["seeds"])
    assert "Final re-training" in out and "mean over search seeds" in out  # racing: several seeds
    assert "Chosen reward, all trainings" in out and "Verdict vs env reward" in out
    assert f"mean over held-out search seeds {held}" in out and f"(held out to confirm the best: {held})" in out
    assert show_main([str(run_dir), "--watch", "--interval", "0.1"]) == 0  # a finished run: returns at once
    assert show_main(["/nonexistent/run"]) == 2


def test_report_failure_never_fails_the_run(run_dir, tmp_path, monkeypatch):
    import eureka.report.html as html_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(html_mod, "write_report", boom)
    assert report_after_run(run_dir) is None
    assert report_after_run(tmp_path / "never-started") is None


def test_ctrl_c_still_writes_the_report(tmp_path):
    """SIGINT mid-search: the run exits 130 and report.html says 'interrupted' with what was done."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.report.conftest import TINY, _env

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "eureka.cli", *TINY, "iterations=3", "video=false",
                             f"hydra.run.dir={out}"], cwd=str(tmp_path), env=_env(out),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ev = out / "events.jsonl"
        if ev.exists() and '"trained"' in ev.read_text():
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, output[-2000:]
    assert "Report: " in output
    page = (out / "report.html").read_text()
    assert 'badge interrupted">interrupted' in page
    assert "iter0_sample0" in page


def test_eureka_show_watch_follows_a_running_run(run_dir, tmp_path, capsys):
    import threading
    import time

    run = _copy(run_dir, tmp_path)
    s = _summary(run)
    s["status"] = "running"
    (run / "summary.json").write_text(json.dumps(s))
    events = (run / "events.jsonl").read_text().splitlines()
    (run / "events.jsonl").write_text("\n".join(e for e in events if '"run_finished"' not in e) + "\n")

    def finish():
        time.sleep(1.0)
        s["status"] = "completed"
        (run / "summary.json").write_text(json.dumps(s))

    t = threading.Thread(target=finish)
    t.start()
    t0 = time.time()
    assert show_main([str(run), "--watch", "--interval", "0.2"]) == 0
    t.join()
    assert 0.9 < time.time() - t0 < 30
    assert "completed" in capsys.readouterr().out


def test_rejected_candidates_and_a_multirun_directory(run_dir, tmp_path):
    multi = tmp_path / "multirun"
    for k in range(2):
        run = _copy(run_dir, multi, f"{k}_cartpole")
        s = _summary(run)
        cand = s["iterations"][-1]["candidates"][-1]
        cand.update(status="rejected", fitness=None, error_class="ForbiddenCode", message="import os is not allowed")
        (run / "summary.json").write_text(json.dumps(s))
    page = write_report(multi / "0_cartpole").read_text()
    assert "ForbiddenCode" in page and "import os is not allowed" in page
    out = tmp_path / "cmp.html"
    assert report_main([str(multi), "-o", str(out), "--each", "--no-tensorboard"]) == 0
    page = out.read_text()
    assert "2 runs compared" in page and "0_cartpole" in page and "1_cartpole" in page
    assert 'href="multirun/1_cartpole/report.html"' in page


def test_every_choice_and_where_each_note_went(run_dir, tmp_path):
    """The report lists every answer (time, session, pair, side, note) and each note's children with fitness;
    iterations count from 1, as in the terminal and on the page."""
    run = _copy(run_dir, tmp_path)
    s = _summary(run)
    child = s["iterations"][1]["candidates"][0]
    parent = child["parent"]
    other = next(c["id"] for c in s["iterations"][0]["candidates"] if c["id"] != parent)
    records = [
        {"time": 1764480000.0, "iteration": 0, "pair_id": f"iter0:{other}|{parent}", "a": other, "b": parent,
         "choice": "a", "note": ""},
        {"time": 1764480010.0, "iteration": 0, "pair_id": f"iter0:{other}|{parent}", "a": other, "b": parent,
         "choice": "b", "note": "less actions"},
    ]
    (run / "preferences.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with open(run / "events.jsonl", "a") as f:
        f.write(json.dumps({"time": 1764480020.0, "event": "choices", "iteration": 0, "selection": "mixed",
                            "favourite": parent, "favourite_kept": True, "population": [{"id": parent}],
                            "dropped": [other], "parents": [{"sample": 0, "parent": parent}], "notes": [],
                            "last": False, "final": None}) + "\n")
    page = write_report(run).read_text()
    table = page.split('id="choices"')[1].split("</table>")[0]
    assert table.count("<tr>") == 3  # a header and both answers
    assert "2025-11-30 05:20:00 UTC" in table and f"B: {parent}" in table and "replaced by a later answer" in table
    notes = page.split('id="note-children"')[1].split("</table>")[0]
    assert "less actions" in notes and parent in notes
    assert f"{child['id']} (iteration 2, fitness {fmt(child['fitness'])})" in notes
    sessions = page.split('id="sessions"')[1].split("</table>")[0]
    assert f"{parent} (kept, first)" in sessions and f"0 ← {parent}" in sessions and other in sessions
    rows = page.split('id="candidates"')[1].split("</table>")[0]
    row = next(r for r in rows.split("<tr") if f'<td>{child["id"]}' in r)
    assert row.split("<td")[2].startswith(' class="num" data-v="2"')
