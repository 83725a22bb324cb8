"""A saved run (``data/saved_run``: a real tiny cartpole run, its policies and logs left out) shows the same
numbers as before the report read ``summary.json`` through the typed record: ``eureka-show``, the terminal's
summary, the report page and the sweep row. ``data/saved_run_expected.json`` was made by ``observed`` with the
code before that change (commit 13c66b6)."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from eureka.report import print_summary
from eureka.report.html import render_report
from eureka.report.rundata import load_run
from eureka.report.show import render
from eureka.report.sweep import load_row

DATA = Path(__file__).parent / "data"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str) -> list[str]:
    """Every number in ``text``, in order."""
    return NUMBER.findall(text)


def observed(run_dir: Path) -> dict:
    """What the readers show of ``run_dir``: the numbers of each view in order, and the headline figures."""
    run = load_run(run_dir)
    root = str(run.path)
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render(run, events=0))
    show = console.export_text().replace(root, "<run>")
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=False, width=160, log_path=False)
    term.soft_wrap = True
    print_summary(json.loads((run_dir / "summary.json").read_text()), term, "<run>", "def compute_reward(x):\n")
    page = re.sub(r'data:image/svg\+xml;base64,[^"]+', "", render_report(run))
    page = re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", page).replace(root, "<run>")
    row = load_row(run_dir)
    est, vs = run.chosen, run.verdict
    return {
        "show": numbers(show), "terminal": numbers(buf.getvalue()), "page": numbers(page),
        "sweep": {"seed": row.seed, "status": row.status, **row.metrics},
        "figures": {"final": [run.final.mean, run.final.std], "env": [run.env_baseline.mean, run.env_baseline.std],
                    "sparse": [run.sparse_baseline.mean, run.sparse_baseline.std],
                    "hns": run.human_normalized_score, "hns_note": run.hns_note, "search": run.best_search_fitness,
                    "selection": run.best_selection_fitness, "confirmed": [run.confirmed.mean, run.confirmed.std],
                    "chosen": [est.mean, list(est.ci), est.words, est.bimodal],
                    "verdict": [vs.verdict, vs.p, list(vs.ci), vs.why], "best": run.best_id, "status": run.status,
                    "env_steps": run.env_steps, "total_env_steps": run.total_env_steps, "wall": run.wall_time_s,
                    "usage": usage if isinstance(usage := run.llm_usage, dict) else usage.to_dict(),
                    "search_seed": run.search_seed,
                    "final_seeds": [str(s) for s in run.final_seeds],
                    "candidates": [[c.id, c.iteration, str(c.status), c.fitness, c.error_class, c.steps]
                                   for c in run.candidates]},
    }


@pytest.fixture
def saved_run(tmp_path, monkeypatch) -> Iterator[Path]:
    monkeypatch.setenv("TZ", "UTC")  # eureka-show prints the events' local times
    time.tzset()
    yield Path(shutil.copytree(DATA / "saved_run", tmp_path / "run"))
    monkeypatch.undo()
    time.tzset()


def test_a_saved_run_shows_the_same_numbers(saved_run):
    expected = json.loads((DATA / "saved_run_expected.json").read_text())
    got = json.loads(json.dumps(observed(saved_run)))  # tuples as lists, as in the file
    for view in ("show", "terminal", "page"):
        assert got[view] == expected[view], view
    assert got["sweep"] == pytest.approx(expected["sweep"])
    for key, value in expected["figures"].items():
        assert got["figures"][key] == (pytest.approx(value) if isinstance(value, float) else value), key



def test_without_its_summary_the_run_is_read_from_its_events_and_files(saved_run):
    """A run that has written no summary.json yet: candidates from the event log and their directories, the final
    re-training and the baselines from their fitness.json files."""
    (saved_run / "summary.json").unlink()
    run = load_run(saved_run)
    assert run.summary is None and run.status == "completed"  # the run_finished event
    assert [c.id for c in run.candidates] == ["iter0_sample0", "iter0_sample1", "iter1_sample0", "iter1_sample1"]
    assert all(str(c.status) == "ok" and c.fitness is not None and c.code and c.reflection_text
               for c in run.candidates)
    assert run.candidates[2].parent == "iter0_sample1"
    expected = json.loads((DATA / "saved_run_expected.json").read_text())["figures"]
    assert run.final.seeds == [1, 2, 3] and run.final.mean == pytest.approx(expected["final"][0])
    assert run.env_baseline.mean == pytest.approx(expected["env"][0])
    assert run.human_normalized_score == pytest.approx(expected["hns"])
    assert run.llm_usage.requests == 0 and run.search_seeds == []
    page = render_report(run)
    assert "iter1_sample1" in page and "88.1" in page


if __name__ == "__main__":  # python tests/report/test_saved_run.py <run_dir> > expected.json (with the old code)
    import sys

    print(json.dumps(observed(Path(sys.argv[1])), indent=1))
