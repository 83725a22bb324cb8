"""The real console script, end to end, with tiny budgets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EUREKA = [sys.executable, "-m", "eureka.cli"]
TINY = ["iterations=2", "samples=2", "trainer.total_timesteps=512", "trainer.n_envs=2", "eval.episodes=2",
        "eval.seeds=[0]", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1"]


def run(args, tmp_path, timeout=300):
    env = {"EUREKA_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(EUREKA + args, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env={**env, **{k: v for k, v in __import__("os").environ.items() if k in ("HOME", "PYTHONPATH")}})


@pytest.mark.e2e  # a real eureka run
def test_tiny_offline_run_writes_the_run_store(offline_run):
    """The session's shared tiny run (tests/conftest.py: offline cartpole, 2 iterations x 2 samples, the final
    re-training on seeds 1 and 2, baselines on), which the report tests read too."""
    from tests.report.conftest import printed

    out = offline_run
    stdout, stderr = printed(out)
    assert "Traceback" not in stdout + stderr
    summary = json.loads((out / "summary.json").read_text())
    for key in ("task", "llm", "best_fitness", "best_candidate", "best_reward_path", "iterations", "final_eval",
                "baselines", "human_normalized_score", "llm_usage", "wall_time_s"):
        assert key in summary
    assert summary["task"] == "cartpole" and summary["llm"] == "offline" and summary["status"] == "completed"
    assert [len(it["candidates"]) for it in summary["iterations"]] == [2, 2]
    assert set(summary["final_eval"]["per_seed"]) == {"1", "2"} and summary["final_eval"]["mean"] > 0
    assert summary["baselines"]["env_reward_fitness"] > 0 and summary["baselines"]["sparse_fitness"] > 0
    assert {"requests", "prompt_tokens", "completion_tokens", "usd", "per_iteration"} <= set(summary["llm_usage"])
    assert Path(summary["best_reward_path"]).exists()
    assert (out / "config.yaml").exists() and (out / "events.jsonl").exists()
    for cid in ("iter0_sample0", "iter1_sample1"):
        d = out / "candidates" / cid
        for name in ("prompt.json", "response.txt", "reward.py", "validation.json", "metrics.jsonl",
                     "fitness.json"):
            assert (d / name).exists(), (cid, name)
        assert json.loads((d / "validation.json").read_text())["status"] == "ok"
    # the second iteration's prompt carries the best first-iteration answer and its reflection
    prompt = json.loads((out / "candidates" / "iter1_sample0" / "prompt.json").read_text())
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
    assert "We trained a RL policy" in prompt[3]["content"]
    events = [json.loads(x)["event"] for x in (out / "events.jsonl").read_text().splitlines()]
    assert events[0] == "run_started" and events[-1] == "run_finished" and events.count("trained") == 4
    assert "Best reward" in stdout


@pytest.mark.parametrize("arg,expected", [("task=cartpol", "Did you mean 'cartpole'?"),
                                          ("llm=opnai", "Did you mean 'openai'?"),
                                          ("trainer.algoo=ppo", "Did you mean 'trainer.algo'?")])
def test_typos_give_one_line(arg, expected, tmp_path):
    proc = run([arg], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert expected in proc.stderr and "valid" in proc.stderr or "unknown config key" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_groups_and_keys(tmp_path):
    proc = run(["--help"], tmp_path, timeout=60)
    assert proc.returncode == 0
    for needle in ("task: acrobot, ant, cartpole, catch", "hopper", "pendulum", "llm: offline, openai, replay",
                   "feedback: cli, fitness, scripted, web",
                   "trainer.algo", "trainer.total_timesteps", "eval.seeds", "iterations", "samples",
                   "llm.base_url", "hydra.run.dir"):
        assert needle in proc.stdout


@pytest.mark.e2e  # a real eureka run
def test_replay_reproduces_an_offline_run(tmp_path):
    first = run(TINY[:2] + ["iterations=1", "trainer.total_timesteps=256", "eval.baselines=false", "llm.cache=shared",
                            f"hydra.run.dir={tmp_path / 'a'}"] + TINY[3:], tmp_path)
    assert first.returncode == 0, first.stderr
    second = run(TINY[:2] + ["iterations=1", "trainer.total_timesteps=256", "eval.baselines=false",
                             "llm=replay", "llm.model=offline-synthesizer", "llm.cache=shared",
                             f"hydra.run.dir={tmp_path / 'b'}"] + TINY[3:], tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    for cid in ("iter0_sample0", "iter0_sample1"):
        a = (tmp_path / "a" / "candidates" / cid / "response.txt").read_text()
        assert a == (tmp_path / "b" / "candidates" / cid / "response.txt").read_text()


@pytest.mark.e2e  # a real eureka run
def test_multirun_over_tasks(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run(["-m", "task=cartpole,catch", "iterations=1", "samples=1", "trainer.total_timesteps=256",
                "trainer.n_envs=2", "eval.episodes=1", "eval.baselines=false", "eval.seeds=[0]", "video=false",
                "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
                f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summaries = sorted(json.loads(p.read_text())["task"] for p in sweep.glob("*/summary.json"))
    assert summaries == ["cartpole", "catch"]


# A real run of a task given by the path of its file (the summary names the file's task) is
# tests/test_cli_task_file.py::test_a_task_file_runs_into_outputs_of_its_name (and, with the game in a module
# beside it, tests/test_cli_checks.py::test_a_task_whose_env_lives_in_its_own_file).
def test_a_missing_task_file_is_one_line(tmp_path):
    missing = run(["task=nowhere/my_task.py"], tmp_path, timeout=60)
    assert missing.returncode == 2 and "task file not found" in missing.stderr


REPORT_ENV = """
import os
from eureka import procs
def report(conn):
    procs.send_json(conn, {"token": os.environ.get("MY_TEST_TOKEN"), "other": os.environ.get("MY_TEST_OTHER")})
"""
ENV_OF_A_CHILD = """
import sys
sys.path.insert(0, ".")
from eureka import cli, procs
import report_env
cfg = cli.compose_configs(["sandbox.env_allow=[MY_TEST_TOKEN]"])[0]
cli.start_children(cfg)  # as main() does before checking the config: the forkserver starts here
print(procs.Child(report_env.report).wait(60))
"""


def test_the_early_forkserver_keeps_the_configured_environment_names(tmp_path):
    (tmp_path / "report_env.py").write_text(REPORT_ENV)
    env = {**os.environ, "MY_TEST_TOKEN": "abc", "MY_TEST_OTHER": "secret"}
    out = subprocess.run([sys.executable, "-c", ENV_OF_A_CHILD], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "{'token': 'abc', 'other': None}"
