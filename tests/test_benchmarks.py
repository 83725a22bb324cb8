"""Every script in benchmarks/ runs, at a tiny size, as a real subprocess: none can rot unnoticed.

Each case runs the script exactly as a user would (``python benchmarks/<script>.py <tiny args>``) and
checks that it exits 0 and prints its figures. The figures themselves are not judged: at this size
they are noise. A new benchmark script without a case here fails ``test_every_benchmark_has_a_tiny_run``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(900), pytest.mark.e2e]  # real eureka runs: make test, not test-fast

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"
HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_WARP = importlib.util.find_spec("mujoco_warp") is not None  # the optional extra [warp]

# script -> (tiny arguments, patterns its output must contain); "{out}" is a fresh directory.
CASES: dict[str, tuple[list[str], list[str]]] = {
    "allocation": (["--task", "cartpole", "--seeds", "0", "--eval-seeds", "1", "--", "iterations=1", "samples=2",
                    "trainer.total_timesteps=512", "trainer.n_envs=2", "trainer.ppo.n_steps=64",
                    "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1", "eval.episodes=2"], [
        rf"full +seed 0: search steps {NUMBER}",
        rf"bandit +seed 0: search steps {NUMBER}",
        r"\| mode \| runs \|",
    ]),
    "tuning_gain": (["--tiny", "--seeds", "2000"], [
        r"tuned from iter0_sample\d",
        r"fresh seeds \[2000\]: parent .*paired gain|a training failed",
    ]),
    "trainer_throughput": (["--tiny", "--tasks", "cartpole"], [
        rf"cartpole: sb3 \(8 envs\) {NUMBER} steps/s, vector \([0-9]+ envs\) {NUMBER} steps/s -> {NUMBER}x; raw "
        rf"simulator {NUMBER} steps/s",
        r"\| cartpole \| ",
    ]),
    "update_cost": (["--tasks", "cartpole", "--steps", "2048", "--repeat", "1", "--number", "20"], [
        rf"cartpole \[.*\]: update {NUMBER} us per minibatch; learning {NUMBER} s = .*simulator {NUMBER}.*update {NUMBER}",
    ]),
    "env_return": (["--task", "cartpole", "--steps", "1024", "--seeds", "0", "--episodes", "1", "--",
                    "trainer.backend=vector", "trainer.num_envs=8", "eval.episodes=1"], [
        rf"  seed 0: return {NUMBER}, fitness {NUMBER}, training wall {NUMBER} s",
        rf"  IQM return {NUMBER} \[{NUMBER}, {NUMBER}\] over 1 seed\(s\)",
    ]),
    "critic_latency": (["--tiny"], [
        rf"cold start, first pool .*: +{NUMBER} s",
        rf"median +{NUMBER} ms +p95 +{NUMBER} ms",
        rf"reward call itself: median {NUMBER} ms",
        rf"of which static checks: median {NUMBER} ms CPU",
        rf"sequential: +{NUMBER} s +{NUMBER} candidates/s",
        rf"2 threads: +{NUMBER} s +{NUMBER} candidates/s",
    ]),
    "jail_cost": (["--checks", "3", "--steps", "512", "--repeat", "1"], [
        rf"critic warm check, median ms +{NUMBER} +{NUMBER}",
        rf"training, wall s +{NUMBER} +{NUMBER}",
        rf"disk walk of a training dir +- +{NUMBER} ms",
    ]),
    "early_stop": (["--tiny"], [
        rf"early_stop=False: search env steps {NUMBER}, best fitness {NUMBER}",
        rf"early_stop=True: search env steps {NUMBER}, best fitness {NUMBER}",
        rf"env steps: full {NUMBER} +successive halving {NUMBER} +-> -?{NUMBER}% fewer",
        rf"best fitness: full {NUMBER} +successive halving {NUMBER}",
    ]),
    "evaluator_overhead": (["--tiny", "--tasks", "cartpole"], [
        rf"cartpole: 2048 steps, job {NUMBER} s, evaluator {NUMBER} s \({NUMBER}% of the job; 10 episodes\)",
    ]),
    "torchscript_reward": (["--batches", "8", "256", "--calls", "20", "--rounds", "1"], [
        rf"compile \+ 3 first calls: +{NUMBER} ms CPU",
        rf"batch +256: +-?{NUMBER} ms CPU",
    ]),
    "video_strip": (["half_cheetah", "--steps", "1024", "--video-steps", "24", "--frames", "4", "--size", "48",
                     "--out", "{out}/strip.png"], [
        rf"half_cheetah: fitness -?{NUMBER} after 1024 steps; clip \d+ frames",
        rf"robot pixels per tiled frame: {NUMBER}",
        r"wrote .*strip\.png",
    ]),
    # one round (the default is 3): each round starts two fresh local Rays
    "parallel_speedup": (["--candidates", "2", "--steps", "256", "--rounds", "1"] + ([] if HAS_RAY else ["--no-ray"]), [
        rf"local speedup x2/x1: {NUMBER} \(medians\)",
        *([rf"ray speedup x2/x1: {NUMBER} \(medians\)"] if HAS_RAY else []),
    ]),
    "preference_alignment": (["--tiny"], [
        rf"cartpole +fitness +preference-best == fitness-best in \d+/\d+ iterations; selected fitness {NUMBER}",
        rf"cartpole +scripted noise 0.1 +\d+/\d+ +{NUMBER} +{NUMBER}",
    ]),
    "reward_overhead": (["--steps", "512", "--rounds", "1", "--subproc"], [
        rf"PPO, env's own reward \(native\): +{NUMBER} steps/s",
        rf"same, SubprocVecEnv\(8\): +{NUMBER} steps/s",
        rf"same, walled candidate reward: +{NUMBER} steps/s",
        rf"ratio walled/native \(side by side, the figure\): median {NUMBER}",
        rf"ratio watchdog/ours \(the watchdog's cost\): median {NUMBER}",
        rf"spent in eureka's wrapper .*median {NUMBER}%",
    ]),
    "seed_spread": (["--seeds", "0-1", "--variant", "trainer.normalize=true", "--variant", "trainer.normalize=false",
                     "--", "task=cartpole", "trainer.total_timesteps=512", "trainer.n_envs=2",
                     "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
                     "eval.episodes=2"], [
        r"reward env, seeds \[0, 1\], base overrides task=cartpole",
        rf"  trainer.normalize=true: {NUMBER} ± {NUMBER} \(n=2; \d/2 seeds >= {NUMBER}; IQM {NUMBER} \[{NUMBER}, "
        rf"{NUMBER}\]\) per seed \[{NUMBER}, {NUMBER}\]",
        rf"  trainer.normalize=false: {NUMBER} ± {NUMBER} \(n=2",
        rf"  P\(trainer.normalize=false > trainer.normalize=true\) = {NUMBER} \[{NUMBER}, {NUMBER}\]",
    ]),
    "run_time": (["--rounds", "1", "--", "samples=2", "trainer.total_timesteps=1024", "eval.episodes=2",
                  "eval.num_seeds=1", "loop.confirm.seeds=1"], [
        rf"round 1 .*: command {NUMBER} s, wall_time_s {NUMBER} s, \d+ trainings, best .*; phases: start {NUMBER} s, "
        rf"search {NUMBER} s, confirmation {NUMBER} s, final {NUMBER} s",
        rf"median command {NUMBER} s over 1 run\(s\)",
    ]),
    "gpu_throughput": (["--tiny"], [
        rf"hopper x 16 envs: sim {NUMBER} env steps/s, train {NUMBER} env steps/s",
        rf"\| half_cheetah \| 16 \| {NUMBER} \| {NUMBER} \|",
    ]),
    "search_quality": (["--tasks", "cartpole", "--seeds", "0", "--eval-seeds", "1", "--out", "{out}", "--",
                        "iterations=1", "samples=2", "trainer.total_timesteps=512", "trainer.n_envs=2",
                        "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
                        "eval.episodes=2"], [
        r"cartpole seed 0: ran, exit 0",
        rf"\| cartpole \| offline \| 1/1 \(0\) \| {NUMBER} ± {NUMBER} \(n=1\) \|",
        r"wrote .*search_quality\.md and .*search_quality\.html",
    ]),
}


def test_every_benchmark_has_a_tiny_run():
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(CASES), f"benchmarks without a tiny run here: {sorted(scripts - set(CASES))}; " \
        f"cases without a script: {sorted(set(CASES) - scripts)}"


@pytest.fixture()
def scratch():
    """A temp dir for the script's runs (its TMPDIR), removed afterwards. Not under pytest's tmp_path: the
    sandboxed workers run as another user and must be able to reach their directories."""
    path = Path(tempfile.mkdtemp(prefix="eureka-test-bench-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# Scripts whose tiny run (as a subprocess, exit 0, its figures printed) is part of a test that asserts more:
# tests/report/test_search_quality.py runs search_quality.py and then resumes it, so it is not run twice here.
RUN_ELSEWHERE = {"search_quality"}


@pytest.mark.parametrize("script", sorted(set(CASES) - RUN_ELSEWHERE))
def test_benchmark_runs_tiny_and_prints_its_figures(script, scratch, tmp_path):
    if script == "gpu_throughput" and not HAS_WARP:
        pytest.skip("MuJoCo Warp is not installed (pip install 'eureka-rl[warp]')")
    args, patterns = CASES[script]
    out = scratch / "out"
    args = [a.replace("{out}", str(out)) for a in args]
    env = {**os.environ, "TMPDIR": str(scratch),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), *args], capture_output=True, text=True,
                          timeout=840, cwd=tmp_path, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{output[-4000:]}"
    assert "Traceback" not in output, output[-4000:]
    missing = [p for p in patterns if not re.search(p, proc.stdout)]
    assert not missing, f"{script} did not print {missing}:\n{proc.stdout[-4000:]}"


def test_search_quality_applies_rl_zoo_settings_unless_told_not_to():
    """``--no-zoo`` keeps the task's own trainer settings; by default hopper gets rl-zoo3's entry, and the
    user's overrides come last (they win)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.search_quality import ZOO, run_args

    zoo = run_args("hopper", 1, Path("/tmp/r"), "offline", 2, ["trainer.total_timesteps=5"])
    own = run_args("hopper", 1, Path("/tmp/r"), "offline", 2, ["trainer.total_timesteps=5"], zoo=False)
    assert set(ZOO["hopper"]) <= set(zoo) and not set(ZOO["hopper"]) & set(own)
    assert own == ["task=hopper", "llm=offline", "seed=1", "eval.seeds=[1010,1011]", "eval.baselines=true",
                   "video=false", "hydra.run.dir=/tmp/r", "trainer.total_timesteps=5"]
    assert zoo[-1] == "trainer.total_timesteps=5"


@pytest.mark.parametrize("args, said", [
    (["--seeds", "0-x", "--", "task=cartpole"], "--seeds 0-x: give seeds as"),
    (["--reward", "/nonexistent/reward.py", "--", "task=cartpole"], "not env, sparse, or a reward file"),
    (["--variant", "trainer.nrmalize=true", "--", "task=cartpole"], "Could not override 'trainer.nrmalize'"),
])
def test_seed_spread_says_what_is_wrong_before_training(args, said, tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "seed_spread.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "per seed" not in proc.stdout  # nothing trained
