"""Resume: kill -9 a real CLI run mid-iteration, resume it, and nothing is asked or trained twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.llm.fake_server import GOOD_KEY, FakeOpenAI

pytestmark = [pytest.mark.timeout(600), pytest.mark.e2e]  # real eureka runs: make test, not test-fast


def eureka(tmp_path: Path, *args: str, home: Path | None = None) -> subprocess.Popen:
    home = home or tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_API_KEY=GOOD_KEY, HOME=str(home), EUREKA_CACHE_DIR=str(home / ".cache" / "eureka" / "llm"))
    return subprocess.Popen([sys.executable, "-m", "eureka.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)


# max_workers=1: the candidates train one after another, so a kill after the first finished training lands
# in iteration 0 (two more trainings of at least a process start each are left). One PPO epoch of 64-step
# rollouts: each training is seconds, not the default 20 epochs per 64 steps.
SMALL = ("samples=3", "trainer.total_timesteps=2048", "trainer.n_envs=2", "executor.max_workers=1",
         "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
         "eval.episodes=2", "eval.seeds=[7]", "eval.baselines=false", "video=false", "loop.target_fitness=null")


def responses(run: Path, iteration: int) -> list[str]:
    return [(run / "candidates" / f"iter{iteration}_sample{k}" / "response.txt").read_text() for k in range(3)]


def test_kill_9_then_resume_on_a_machine_with_an_empty_cache(tmp_path):
    """Iteration 0's answers come from the shared cache (an earlier run, same seed); the run is killed in
    iteration 0 and resumed on "another machine" (empty HOME and cache): same history, nothing asked twice."""
    earlier, run = tmp_path / "earlier", tmp_path / "run"
    with FakeOpenAI() as server:
        llm = ["llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.cache=shared"]
        first = eureka(tmp_path, *llm, *SMALL, "iterations=1", f"hydra.run.dir={earlier}")
        out, _ = first.communicate(timeout=500)
        assert first.returncode == 0, out[-3000:]
        asked_earlier = len(server.requests)
        assert asked_earlier == 1  # iteration 0: one request for 3 samples

        proc = eureka(tmp_path, *llm, *SMALL, "iterations=2", f"hydra.run.dir={run}")  # both iterations run
        trainings = run / "trainings.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if trainings.exists() and len(trainings.read_text().splitlines()) >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        before_kill = len(trainings.read_text().splitlines())
        assert 1 <= before_kill < 3, "the kill must land in the first iteration"
        assert len(server.requests) == asked_earlier, "iteration 0 was answered from the shared cache"
        assert len(list((run / "answers").glob("*.json"))) == 3, "the cached answers were recorded in the run"

        empty = tmp_path / "other-machine"
        resumed = eureka(tmp_path, f"resume={run}", home=empty)
        out, _ = resumed.communicate(timeout=500)
        assert resumed.returncode == 0, out[-3000:]
        requests = list(server.requests)
        print(f"\nrequests: earlier run {asked_earlier}; killed run 0 (iteration 0 from the shared cache, recorded "
              f"in the run); resume with an empty cache: {len(requests) - asked_earlier} (iteration 1's), "
              f"{before_kill} finished training(s) kept")
        assert not (empty / ".cache" / "eureka" / "llm").exists() or \
            len(list((empty / ".cache" / "eureka" / "llm").glob("*.json"))) == 3  # only iteration 1's answers

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    ids = [c["id"] for it in summary["iterations"] for c in it["candidates"]]
    assert sorted(ids) == sorted(f"iter{i}_sample{k}" for i in range(2) for k in range(3)), ids
    assert len(ids) == len(set(ids))
    assert responses(run, 0) == responses(earlier, 0), "the history did not change"
    # after the earlier run: only iteration 1's requests (one per parent), never iteration 0's prompt again
    assert len(requests) > asked_earlier
    assert all(r["body"]["messages"] != requests[0]["body"]["messages"] for r in requests[asked_earlier:])
    seen = Counter(json.dumps(r["body"]["messages"], sort_keys=True) for r in requests)
    assert max(seen.values()) == 1, "a request was repeated after resume"
    # finished trainings were not trained again: each training key appears once
    keys = Counter(json.loads(line)["key"] for line in (run / "trainings.jsonl").read_text().splitlines())
    assert max(keys.values()) == 1 and len(keys) >= 6 + 1
    assert summary["final_eval"]["per_seed"]["7"] is not None


def test_resume_refuses_changes_to_what_was_done(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- iterations=2\n- samples=2\n")
    (run / "config.yaml").write_text("iterations: 2\nsamples: 2\n")
    for bad, needle in (("samples=3", "would change what was already done"),
                        ("iterations=1", "iterations can only grow")):
        proc = subprocess.run([sys.executable, "-m", "eureka.cli", f"resume={run}", bad], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "eureka.cli", f"resume={tmp_path / 'nowhere'}"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "not a run directory" in proc.stderr
