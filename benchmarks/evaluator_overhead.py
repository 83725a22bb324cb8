"""What the separate evaluator (the verdict measured outside the jail) adds to a run's wall time.

    python benchmarks/evaluator_overhead.py                 # one default cartpole and one hopper training
    python benchmarks/evaluator_overhead.py --run outputs/cartpole/<time>   # a finished run's own figures
    python benchmarks/evaluator_overhead.py --tiny          # seconds, for CI

Every training is a job: train in a jail, then evaluate the saved weights in the trusted supervisor
(``eureka.train.job``). The evaluator's wall time (building the policy, loading safetensors, running the
evaluation episodes in fresh envs) is recorded per training (``eval_time_s``); this prints it as a share
of the job, and of a whole run (all its trainings, against the run's wall time). Part of it (the
evaluation episodes) ran inside the training process before the evaluator existed, so the share is an
upper bound of what the separation adds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from eureka.evolve.summary import load_summary
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.paths import conf_dir
from eureka.store import read_jsonl
from eureka.tasks import make
from eureka.train import LocalExecutor, TrainSpec
from eureka.train.result import TrainResult


def default_spec(task_name: str, tmp: Path, steps: int | None) -> TrainSpec:
    """One training with the task's default settings (``conf/task/<task>.yaml``) and its seed reward."""
    from eureka.config import TrainerConfig

    cfg = OmegaConf.merge(OmegaConf.structured(TrainerConfig),
                          OmegaConf.load(conf_dir() / "task" / f"{task_name}.yaml").trainer)
    task = make(task_name)
    path = tmp / f"{task_name}.py"
    path.write_text(CodeWriter(task).code(seed_genome(task)))
    algo = str(cfg.get("algo", "ppo"))
    return TrainSpec(job_id=task_name, task=task_name, reward_path=str(path), algo=algo,
                     total_timesteps=steps or int(cfg.total_timesteps), n_envs=int(cfg.n_envs),
                     hyperparams=OmegaConf.to_container(cfg.get(algo) or {}, resolve=True),
                     normalize=bool(cfg.get("normalize", False)), eval_episodes=10, tensorboard=False,
                     out_dir=str(tmp / task_name))


def in_process_eval(spec: TrainSpec) -> float:
    """Seconds to evaluate the saved policy the old way: the episodes alone, with the policy already in memory."""
    import time

    from eureka.reward.vecenv import make_vec_env
    from eureka.reward.wrapper import RewardWrapper
    from eureka.train.evaluator import (
        NORMALIZER,
        WEIGHTS,
        evaluate_policy,
        normalizer_from_bytes,
        policy_from_bytes,
        read_saved,
    )

    task = make(spec.task)
    probe = RewardWrapper(make_vec_env(task, 1, spec.seed), task, mode="env", info_components=False)
    saved = read_saved(spec.out_dir or ".")
    policy = policy_from_bytes(spec.algo, probe.observation_space, probe.action_space, spec.hyperparams,
                               saved[WEIGHTS])
    norm = normalizer_from_bytes(saved[NORMALIZER])
    t0 = time.perf_counter()
    evaluate_policy(policy, task, spec.eval_episodes, spec.seed, norm)
    return time.perf_counter() - t0


def from_run(run: Path) -> None:
    # trainings.jsonl: {"key", "result"} rows (eureka.train.recording), each result read into its TrainResult
    rows = [TrainResult.from_dict(r["result"] if isinstance(r.get("result"), dict) else r)
            for r in read_jsonl(run / "trainings.jsonl")]
    summary = load_summary(run)
    wall = summary.wall_time_s if summary is not None else 0.0
    ev = sum(r.eval_time_s for r in rows)
    jobs = sum(r.wall_time_s for r in rows)
    print(f"run {run}: {len(rows)} trainings, evaluator {ev:.1f} s of {jobs:.1f} s of training jobs "
          f"({100 * ev / max(jobs, 1e-9):.1f}%); run wall time {wall:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a finished run directory: report its own figures")
    ap.add_argument("--tasks", default="cartpole,hopper")
    ap.add_argument("--tiny", action="store_true", help="a few thousand steps per training (CI)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as in a training process and in the evaluator
    if args.run:
        from_run(args.run)
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        specs = [default_spec(t, tmp, 2048 if args.tiny else None) for t in args.tasks.split(",")]
        for spec in specs:
            r = LocalExecutor(1, timeout_s=7200).run([spec])[0]
            assert r.ok, r.failure
            inproc = in_process_eval(spec)
            added = r.eval_time_s - inproc
            print(f"{spec.task}: {spec.total_timesteps} steps, job {r.wall_time_s:.1f} s, evaluator "
                  f"{r.eval_time_s:.2f} s ({100 * r.eval_time_s / r.wall_time_s:.1f}% of the job; "
                  f"{spec.eval_episodes} episodes), fitness {r.fitness:.2f}")
            print(f"  the same episodes in the training's process (as before the evaluator) {inproc:.2f} s: "
                  f"the separation adds {added:.2f} s = {100 * added / r.wall_time_s:.1f}% of the job")


if __name__ == "__main__":
    main()
