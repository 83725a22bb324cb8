"""benchmarks/search_quality.py with a tiny budget: one task, one seed, then a resumed call that skips it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["iterations=1", "samples=2", "trainer.total_timesteps=512", "trainer.n_envs=4", "eval.episodes=2",
        "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=128", "trainer.ppo.n_epochs=1"]


def _bench():
    spec = importlib.util.spec_from_file_location("search_quality", ROOT / "benchmarks" / "search_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["search_quality"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.e2e  # real eureka runs (the benchmark)
def test_search_quality_tiny_and_resumable(tmp_path, capsys):
    """Also the tiny run of benchmarks/search_quality.py that tests/test_benchmarks.py asks of every script: the
    first call runs the script as a user does (a subprocess), and checks the figures it prints."""
    bench = _bench()
    out = tmp_path / "sq"
    args = ["--tasks", "cartpole", "--seeds", "0", "--eval-seeds", "2", "--out", str(out), "--", *TINY]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search_quality.py"), *args],
                          capture_output=True, text=True, timeout=840, cwd=tmp_path, env=env)
    first = proc.stdout
    assert proc.returncode == 0, first[-4000:] + proc.stderr[-4000:]
    assert "Traceback" not in first + proc.stderr, (first + proc.stderr)[-4000:]
    assert "cartpole seed 0: ran, exit 0" in first
    assert re.search(r"\| cartpole \| offline \| 1/1 \(0\) \| [-\d.,e+]+ ± [-\d.,e+]+ \(n=\d\) \|", first), first
    assert re.search(r"wrote .*search_quality\.md and .*search_quality\.html", first), first
    assert (out / "search_quality.md").read_text().count("| cartpole | offline |") == 1
    run = out / "cartpole" / "offline" / "seed0"
    assert (run / "summary.json").exists() and (run / "report.html").exists()
    assert not (run / "final" / "best_seed0").exists()  # final seeds never repeat the search seed
    assert sorted(p.name for p in (run / "final").iterdir()) == ["best_seed1000", "best_seed1001"]
    md = (out / "search_quality.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| cartpole"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "offline" and cells[2] == "1/1 (0)"
    # final, search's reported best (held out), search best on its selection seeds, env reward, sparse
    for cell in cells[3:8]:
        assert re.fullmatch(r"[-\d.,e+]+ ± [-\d.,e+]+ \(n=\d\)", cell), cell
    assert cells[7].endswith("(n=2)")
    for cell in cells[8:11]:  # IQM final, IQM env, P(final > env): value [95% interval]
        assert re.fullmatch(r"[-\d.,e+]+ \[[-\d.,e+]+, [-\d.,e+]+\]", cell), cell
    assert cells[11].split(" (")[0] in ("yes", "NO: this budget cannot judge rewards") and cells[12] in ("yes", "no")
    assert "Goal: P(final > env) >= 0.5 on" in md
    seeds_row = next(line for line in md.splitlines() if line.startswith("| cartpole | seed 0 |"))
    assert "1000, 1001" in seeds_row  # final seeds, apart from the search seeds
    summary = json.loads((run / "summary.json").read_text())
    held_out = summary["best_confirmed"]["per_seed"]
    assert 3 <= len(held_out) <= 6 and all(f"{s}: " in seeds_row for s in held_out)  # seeds that confirmed the best
    assert "<table" in (out / "search_quality.html").read_text()
    # a second call finds the run completed and only rewrites the table
    assert bench.main(args) == 0
    assert "cartpole seed 0: skipped (completed)" in capsys.readouterr().out
    # a run completed before confirmation existed is resumed (eureka resume=), which trains only the confirmation
    trainings = (run / "trainings.jsonl").read_text().splitlines()
    old = {k: v for k, v in summary.items() if k not in ("best_confirmed", "best_selection_fitness")}
    (run / "summary.json").write_text(json.dumps({**old, "best_fitness": summary["best_selection_fitness"]}))
    for line in trainings[:]:
        if "_confirm" in json.loads(line)["key"]:
            trainings.remove(line)
    (run / "trainings.jsonl").write_text("".join(t + "\n" for t in trainings))
    assert bench.main(args) == 0
    assert "cartpole seed 0: resumed, exit 0" in capsys.readouterr().out
    added = (run / "trainings.jsonl").read_text().splitlines()[len(trainings):]
    assert sorted(json.loads(t)["key"].split("|")[0] for t in added) == sorted(
        f"{summary['best_candidate']}_confirm{s}" for s in held_out)
    assert json.loads((run / "summary.json").read_text())["best_confirmed"]["per_seed"] == held_out
