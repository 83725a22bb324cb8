"""The ``eureka`` console script with ``llm=openai`` against a real local OpenAI-compatible server.

Each run is a real (tiny) search: a subprocess, real HTTP, real critic and,
for the happy path, real training of 1024 steps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm.fake_server import GOOD_KEY, FakeOpenAI, closed_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.e2e]  # real eureka runs: make test, not test-fast

SCRIPT = Path(sys.executable).parent / "eureka"
# one epoch of 64-step rollouts: these tests are about the LLM's side; each training takes seconds
CHEAP_PPO = ("trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1")


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def run_eureka(tmp_path: Path, base_url: str, *extra: str, key: str = GOOD_KEY,
               iterations: int = 1, launcher: list[str] = ()) -> subprocess.CompletedProcess:
    cmd = [*launcher] + ([str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "eureka.cli"])
    cmd += ["llm=openai", f"llm.base_url={base_url}", "llm.model=test-model", f"iterations={iterations}",
            "samples=2", "trainer.total_timesteps=1024", "trainer.n_envs=2", *CHEAP_PPO, "eval.episodes=2",
            "eval.seeds=[0]", "eval.baselines=false", f"hydra.run.dir={tmp_path / 'run'}", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_API_KEY=key, EUREKA_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + "\n" + proc.stderr


def error_text(proc: subprocess.CompletedProcess) -> str:
    """The CLI's error message (the console may wrap it at the terminal width), whitespace-normalized."""
    lines = output(proc).splitlines()
    starts = [i for i, ln in enumerate(lines) if "eureka: error:" in ln]
    assert len(starts) == 1, f"expected one error line:\n{output(proc)}"
    msg = []
    for ln in lines[starts[0]:]:
        if ln.startswith("What was done so far") or not ln.strip():
            break
        msg.append(ln.strip())
    return re.sub(r"\s+", " ", " ".join(msg))


def test_openai_run_end_to_end(server, tmp_path):
    proc = run_eureka(tmp_path, server.base_url)
    assert proc.returncode == 0, output(proc)[-4000:]
    assert "Traceback" not in output(proc)

    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["llm"] == "openai" and summary["model"] == "test-model"
    assert summary["llm_usage"]["requests"] >= 1
    assert summary["llm_usage"]["prompt_tokens"] > 0 and summary["llm_usage"]["completion_tokens"] > 0
    assert summary["best_candidate"] in ("iter0_sample0", "iter0_sample1")

    # what the server saw: one request with n=2, the key as bearer token, the configured model
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["body"]["n"] == 2 and req["body"]["model"] == "test-model"
    assert req["headers"]["authorization"] == f"Bearer {GOOD_KEY}"
    assert summary["llm_usage"]["prompt_tokens"] == server.usage_reported[0]["prompt_tokens"]

    for k in range(2):
        d = run / "candidates" / f"iter0_sample{k}"
        for name in ("prompt.json", "response.txt", "reward.py", "validation.json", "metrics.jsonl",
                     "fitness.json"):
            assert (d / name).is_file(), f"missing {d / name}"
        prompt = json.loads((d / "prompt.json").read_text())
        assert [m["role"] for m in prompt] == ["system", "user"]
        assert prompt == req["body"]["messages"]
        assert "cart_position" in prompt[1]["content"]
        assert (d / "response.txt").read_text() == server.responses[0]["choices"][k]["message"]["content"]
        assert "def compute_reward" in (d / "reward.py").read_text()
        assert json.loads((d / "validation.json").read_text())["status"] == "ok"
        assert (d / "metrics.jsonl").read_text().strip()
        assert json.loads((d / "fitness.json").read_text())["status"] == "ok"

    # every answer is recorded in the run (for resume); the shared cache is opt-in (llm.cache=shared)
    assert len(list((tmp_path / "run" / "answers").glob("*.json"))) == 2
    assert not (tmp_path / "cache").exists()


def test_wrong_api_key_is_one_clear_line(server, tmp_path):
    server.configure(unauthorized=True)
    proc = run_eureka(tmp_path, server.base_url, key="wrong-key")
    out = output(proc)
    assert proc.returncode != 0
    assert "Traceback" not in out
    error_lines = [ln for ln in out.splitlines() if "eureka: error:" in ln]
    assert len(error_lines) == 1 and "API key" in error_lines[0], out
    msg = error_text(proc)
    assert "API key" in msg and "401" in msg and server.base_url in msg
    assert len(server.requests) == 1  # not retried
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped" and "API key" in summary["message"]


def test_unreachable_server_stops_cleanly(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = run_eureka(tmp_path, url, "llm.max_retries=1")
    out = output(proc)
    assert proc.returncode != 0
    assert "Traceback" not in out
    msg = error_text(proc)
    assert "cannot reach the LLM server" in msg and url in msg
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert url in summary["message"] and "\n" not in summary["message"]
    assert summary["llm_usage"]["requests"] == 0
    assert not (tmp_path / "run" / "error.log").exists()


def test_answers_without_code_are_fed_back(server, tmp_path):
    server.configure(garbage=True)
    proc = run_eureka(tmp_path, server.base_url, iterations=2)
    assert proc.returncode == 0, output(proc)[-4000:]
    assert "Traceback" not in output(proc)

    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "all_failed"
    rows = [c for it in summary["iterations"] for c in it["candidates"]]
    assert [c["id"] for c in rows] == ["iter0_sample0", "iter0_sample1", "iter1_sample0", "iter1_sample1"]
    assert all(c["error_class"] == "RewardSyntaxError" for c in rows)
    assert summary["llm_usage"]["requests"] == 2

    first_error = json.loads((run / "candidates" / "iter0_sample0" / "validation.json").read_text())
    assert first_error["error_class"] == "RewardSyntaxError" and first_error["message"]
    prompt = json.loads((run / "candidates" / "iter1_sample0" / "prompt.json").read_text())
    feedback = prompt[-1]["content"]
    assert prompt[-1]["role"] == "user" and len(prompt) == 3
    assert "[iter0_sample0] RewardSyntaxError" in feedback and first_error["message"] in feedback
    # and that is what the server was sent in the second iteration
    assert server.bodies[1]["messages"] == prompt
    assert first_error["message"] in server.bodies[1]["messages"][-1]["content"]


def test_replay_from_a_run_directory_needs_no_server(server, tmp_path):
    first = run_eureka(tmp_path, server.base_url, iterations=2)
    assert first.returncode == 0, output(first)[-3000:]
    asked = len(server.requests)
    cmd = [sys.executable, "-m", "eureka.cli", "llm=replay", "llm.model=test-model",
           f"llm.replay_from={tmp_path / 'run'}", "iterations=2", "samples=2", "trainer.total_timesteps=1024",
           "trainer.n_envs=2", *CHEAP_PPO, "eval.episodes=2", "eval.seeds=[0]", "eval.baselines=false",
           f"hydra.run.dir={tmp_path / 'replayed'}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["EUREKA_CACHE_DIR"] = str(tmp_path / "empty-cache")  # not the cache: the run directory
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, output(proc)[-3000:]
    for cid in ("iter0_sample0", "iter0_sample1", "iter1_sample0", "iter1_sample1"):
        a = (tmp_path / "run" / "candidates" / cid / "response.txt").read_text()
        assert a == (tmp_path / "replayed" / "candidates" / cid / "response.txt").read_text()
    assert len(server.requests) == asked  # the replay asked nothing


@pytest.mark.parametrize("budget", [("llm.budget.max_tokens=3000",),
                                    ("+llm.prices.test-model.prompt=1.0", "+llm.prices.test-model.completion=2.0",
                                     "llm.budget.max_usd=0.004")])
def test_budget_stops_the_search_and_the_final_evaluation_runs(server, tmp_path, budget):
    proc = run_eureka(tmp_path, server.base_url, "llm.max_tokens=600", *budget, iterations=3)
    assert proc.returncode == 0, output(proc)[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and "reached" in summary["message"]
    assert "left unasked" in summary["message"] and "left unasked" in " ".join(output(proc).split())
    usage = summary["llm_usage"]
    if "max_usd" in budget[-1]:  # what the server billed, at the configured prices, stays under the ceiling
        billed = sum(u["prompt_tokens"] * 1.0 + u["completion_tokens"] * 2.0 for u in server.usage_reported) / 1e6
        assert billed <= 0.004 and usage["usd"] == pytest.approx(billed)
    else:
        assert usage["total_tokens"] <= 3000
    assert len(server.requests) == 1 and usage["unasked"]["requests"] >= 1
    assert summary["final_eval"]["per_seed"]  # the final evaluation ran
    assert usage["per_iteration"][0]["iteration"] == 0
