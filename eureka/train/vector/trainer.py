"""``trainer.backend=vector``: one training on a batched simulator with batched PPO.

The loop is rsl_rl's ``OnPolicyRunner.learn``: for each rollout, ``num_steps`` times act on all
envs and step the simulator; then the reward (``RewardScorer``: the same state extraction, reward
call, statistics and error handling as the SB3 path) is called once on the whole rollout's
``num_steps x num_envs`` states; then returns, advantages and the update. It runs inside the
training's jail (``eureka.train.job``) exactly where the SB3 backend runs, writes the same files
(metrics, TensorBoard, ``policy.safetensors`` + ``normalizer.npz`` for the evaluator) and returns
the same result dict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eureka import tasks
from eureka.errors import RewardError, TrainingCrash
from eureka.reward.scorer import RewardScorer
from eureka.reward.watchdog import CallWatchdog
from eureka.train.process import _aborter, _finish, _thread_ids, new_result, put_up_walls, resolve_device
from eureka.train.vector.policy import arch, build
from eureka.train.vector.ppo import PPO, PPOSettings
from eureka.train.vector.sims import choose_sim, make_sim, preload_sim

CHECKPOINT = "vector_state.safetensors"  # continued training (halving, bandit): read back only inside a jail


def rollout_size(spec: Any) -> int:
    """Env steps per rollout of ``spec`` (``num_steps x num_envs``)."""
    return int(spec.vector.get("num_steps", PPOSettings.num_steps)) * int(spec.num_envs)


class _Log:
    """~``log_points`` metric snapshots (JSONL + TensorBoard) and progress reports, as the SB3 path's monitor."""

    def __init__(self, scorer: RewardScorer, spec: Any, progress: Callable[[int], None] | None,
                 metrics_path: Path | None, tb_dir: Path | None):
        self.scorer, self.progress, self.metrics_path = scorer, progress, metrics_path
        self.every = max(spec.total_timesteps // max(spec.log_points, 1), 1)
        self.snapshots: list[dict] = []
        self._seen = 0
        self.start = self.next_log = 0
        self.writer = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tb_dir))

    def begin(self, start: int) -> None:
        self.start, self.next_log = start, start + self.every

    def after_rollout(self, steps: int, losses: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress(steps - self.start)
        if self.writer is not None:
            for k, v in losses.items():
                self.writer.add_scalar(f"train/{k}", v, steps)
        if steps >= self.next_log:
            self.snapshot(steps)
            while self.next_log <= steps:
                self.next_log += self.every

    def snapshot(self, steps: int) -> None:
        eps = self.scorer.episode_fitness[self._seen:]
        lens = self.scorer.episode_lengths[self._seen:]
        self._seen = len(self.scorer.episode_fitness)
        components = self.scorer.pop_component_stats()
        row = {"step": int(steps), "episodes": len(eps), "fitness": float(np.mean(eps)) if eps else None,
               "episode_length": float(np.mean(lens)) if lens else None, "components": components}
        self.snapshots.append(row)
        if self.writer is not None:
            for k, v in components.items():
                self.writer.add_scalar(f"reward/{k}", v["mean"], steps)
            if row["fitness"] is not None:
                self.writer.add_scalar("fitness/train", row["fitness"], steps)
                self.writer.add_scalar("train/episode_length", row["episode_length"], steps)
        if self.metrics_path is not None:
            with self.metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_vector_training(spec: Any, progress: Callable[[int], None] | None = None,
                        emit: Callable[[dict], None] | None = None, jail: Any = None) -> dict:
    """Train ``spec`` (a ``TrainSpec`` with ``backend='vector'``); the result dict ``run_training_raw`` returns."""
    from eureka.train.evaluator import evaluate_policy, save_policy

    t0 = time.time()
    torch.set_num_threads(1)
    out_dir = Path(spec.out_dir).resolve() if spec.out_dir else None
    result = new_result(spec)
    log = None
    sim = None
    try:
        settings = PPOSettings.from_dict(dict(spec.vector))
        torch.manual_seed(spec.seed)  # the policy's initial weights, its action samples, the minibatch order
        task = tasks.make(spec.task)
        device = torch.device(resolve_device(spec.device))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = out_dir / CHECKPOINT if out_dir is not None else None
        resume_state = checkpoint.read_bytes() if spec.resume and checkpoint is not None and checkpoint.exists() \
            else None
        reward_path = spec.reward_path
        if jail is not None:
            preload_sim(task, spec.sim, str(device))
            if choose_sim(task, spec.sim, str(device))[0] == "warp":  # Warp loads its kernels (~/.cache/warp) before the walls
                sim = make_sim(task, spec.num_envs, spec.seed, spec.sim, spec.sim_threads, str(device))
            result["walls"], reward_path = put_up_walls(spec, jail)
            out_dir = Path(".") if out_dir is not None else None
        if sim is None:
            # made behind the walls: EnvPool's worker threads start after Landlock, which covers only later threads
            sim = make_sim(task, spec.num_envs, spec.seed, spec.sim, spec.sim_threads, str(device))
        hidden = int(task.hidden_obs)
        obs_dim = int(np.prod(sim.observation_space.shape)) - hidden
        policy = build(_policy_space(obs_dim), sim.action_space, asdict(settings))
        ppo = PPO(policy, obs_dim, spec.num_envs, settings, device)
        start = 0
        if resume_state is not None:
            from safetensors.torch import load

            state = load(resume_state)
            start = int(state.pop("num_timesteps").item())
            ppo.load_state(state)
        metrics_path = out_dir / "metrics.jsonl" if out_dir is not None else None
        if metrics_path is not None and not spec.resume:
            metrics_path.write_text("")
        own_threads = _thread_ids()
        fn = params = None
        if spec.mode == "candidate":
            from eureka.reward.compiled import load_candidate

            fn, params = load_candidate(reward_path)
        scorer = RewardScorer(task, spec.num_envs, mode=spec.mode, reward_fn=fn, params=params,
                              path=reward_path or "", device=str(device))
        if emit is not None and jail is not None and spec.mode == "candidate":
            scorer.watchdog = CallWatchdog(spec.call_timeout_s, _aborter(spec, result, out_dir, emit, t0),
                                           first_calls_s=spec.first_call_cpu_s, trusted_tids=own_threads)
        tb = out_dir / "tb" if (out_dir is not None and spec.tensorboard) else None
        log = _Log(scorer, spec, progress, metrics_path, tb)
        t_learn = time.time()
        steps = _learn(spec, sim, ppo, scorer, log, start, hidden, device)
        result["learn_time_s"] = time.time() - t_learn
        result["env_reward_corr"] = scorer.env_correlation()
        if not log.snapshots or log.snapshots[-1]["step"] < steps:
            log.snapshot(steps)
        result.update(steps=steps, new_steps=steps - start)
        norm = ppo.obs_norm if settings.normalize_obs else None
        if out_dir is not None:
            from safetensors.torch import save

            state = {k: v.detach().cpu().contiguous() for k, v in ppo.state().items()}
            state["num_timesteps"] = torch.tensor(steps, dtype=torch.int64)
            (out_dir / CHECKPOINT).write_bytes(save(state))
            save_policy(policy, _Stats(norm) if norm is not None else None, out_dir, 10.0, 1e-8, spec.algo,
                        {"backend": "vector", **arch(asdict(settings))})
        if jail is None:  # trusted, in-process use: evaluate here
            stats = None if norm is None else {"mean": _numpy(norm.mean), "var": _numpy(norm.var),
                                               "clip_obs": 10.0, "epsilon": 1e-8}
            policy.cpu()
            fit, lens = evaluate_policy(policy, task, spec.eval_episodes, spec.seed, stats)
            result.update(fitness=float(np.mean(fit)) if fit else float("nan"), eval_fitness=fit, eval_lengths=lens)
    except RewardError as err:
        result.update(status="failed", **err.to_dict())
    except Exception as exc:  # noqa: BLE001 - a crashed training must not stop the run
        result.update(status="failed", error_class="TrainingCrash", message=f"{type(exc).__name__}: {exc}",
                      hint=TrainingCrash.hint)
    finally:
        if sim is not None:
            sim.close()
        if log is not None:
            log.close()
    if log is not None:
        result["snapshots"] = log.snapshots
    return _finish(result, out_dir, t0, jailed=jail is not None)


def _learn(spec: Any, sim: Any, ppo: PPO, scorer: RewardScorer, log: _Log, start: int, hidden: int,
           device: torch.device) -> int:
    """The training loop; returns the env steps done (``start`` included)."""
    T, N = ppo.s.num_steps, spec.num_envs
    chunk = T * N
    total = start + -(-spec.total_timesteps // chunk) * chunk
    steps = start
    log.begin(start)
    on_device = bool(getattr(sim, "tensors", False))  # WarpSim: every batch a tensor on the device, no host copy
    raw = torch.as_tensor(sim.reset(), device=device)
    obs = ppo.normalize(raw[:, hidden:], update=True)
    scorer.restart_episodes()
    dones = torch.zeros((T, N), dtype=torch.bool, device=device)
    while steps < total:
        for t in range(T):
            _, env_actions = ppo.act(obs)
            actions = env_actions if on_device else env_actions.cpu().numpy()
            out = sim.step(actions)
            done = out.terminated | out.truncated
            scorer.keep(out.reward_obs, actions, done, out.infos, out.env_reward, out.valid)
            valid = None if out.valid is None else torch.as_tensor(out.valid, device=device)
            trunc_obs = trunc = None
            if on_device:  # the bootstrap of every row, masked: no look at the device's truncations from the host
                ppo.process_env_step(valid, ppo.normalize(out.reward_obs[:, hidden:]), out.truncated, every_row=True)
            else:
                if out.truncated.any():
                    trunc = torch.as_tensor(out.truncated, device=device)
                    rows = torch.as_tensor(out.reward_obs[out.truncated][:, hidden:], device=device)
                    trunc_obs = ppo.normalize(rows)
                ppo.process_env_step(valid, trunc_obs, trunc)
            dones[t] = torch.as_tensor(done, device=device)
            raw = torch.as_tensor(out.obs, device=device)
            obs = ppo.normalize(raw[:, hidden:], update=True)
        steps += chunk
        rewards, _ = scorer.flush()  # the reward: one call on the whole rollout
        adv, ret = ppo.compute_returns(torch.as_tensor(rewards, device=device), dones, obs)
        losses = ppo.update(adv, ret, (steps - start) / max(total - start, 1))
        log.after_rollout(steps, losses)
    return steps


def _policy_space(obs_dim: int) -> Any:
    import gymnasium as gym

    return gym.spaces.Box(-np.inf, np.inf, (obs_dim,), dtype=np.float32)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class _Stats:
    """The normalizer's statistics as ``save_policy`` reads them (``mean``, ``var``, ``count``)."""

    def __init__(self, norm: Any):
        self.mean = norm.mean.cpu().numpy()
        self.var = norm.var.cpu().numpy()
        self.count = float(norm.count.item())
