"""trainer.sim=warp: the v5 MuJoCo tasks on MuJoCo Warp's CPU mode agree with Gymnasium's envs.

Skipped where ``mujoco_warp`` is not installed (``pip install 'eureka-rl[warp]'``). Warp compiles its
kernels once per machine (~/.cache/warp: about 30 s per model cold, ~1 s to load them warm); a step
on the CPU costs ~20 ms per physics step whatever the batch, so the tests use few worlds and short
episodes.

Cost (CI): one WarpSim per task for the whole module (``sims`` fixture: its kernels loaded once, shared by
the one-step and the episode tests), 16 worlds; episodes of at most 20 env steps; one tiny training, in a
jail. Warm cache ~75 s on 2 busy cores (it was ~190 s); a cold cache adds ~100 s of compilation once.

Tolerances (MuJoCo Warp 4.0.0 in float32 on the CPU against MuJoCo 4.0.1 in float64), one env step
(``frame_skip`` physics steps) from states visited by random actions, contacts included:
- hopper, walker2d, half_cheetah: positions 1e-5, velocities 1e-3 (x 1 or |value|), env reward and
  its terms 1e-4; terminations equal where the state is not within 1e-4 of a healthy range's bound;
- humanoid: the same, plus its extra observation columns (cinert, cvel, qfrc_actuator, cfrc_ext) 1e-2
  relative; its model asks for the PGS solver, which MuJoCo Warp lacks: Newton stands in (the same
  convex problem, solved to convergence);
- ant: the same on the states whose step agrees to 1e-5 in qpos (at least a third of them), and every
  state within 0.05 in qpos. Its RK4 steps that bring a leg within the geoms' 1 cm contact margin differ
  between MuJoCo Warp 4.0.0 and MuJoCo 4.0.1 (up to 0.3 m/s in a velocity after one step, on about 1 in 6
  random states; with the Euler integrator, or with margin 0, ant agrees on 64 of 64 / 63 of 64 states),
  so for ant the episode statistics below carry the equivalence.
EUREKA_WARP_TEST_DEVICE=cuda runs the equivalence tests and the tiny training on a GPU.

Whole episodes (a fixed linear policy, 16 worlds, 24 steps with a 20-step limit: hopper's and humanoid's
episodes end by termination at ~17 steps, the others' by the limit): mean return and mean length within 4
standard errors (Welch) plus 10 % of the mean, on both sims.
"""

from __future__ import annotations

import math
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from eureka import tasks
from eureka.errors import ConfigError
from eureka.train import TrainSpec
from eureka.train.vector import warp_sim
from eureka.train.vector.sims import choose_sim
from eureka.train.vector.warp_sim import WarpSim

needs_warp = pytest.mark.skipif(not warp_sim.warp_installed(),
                                reason="MuJoCo Warp is not installed (pip install 'eureka-rl[warp]')")

TASKS = ["hopper", "walker2d", "half_cheetah", "ant", "humanoid"]
# the equivalence tests on a GPU too: EUREKA_WARP_TEST_DEVICE=cuda pytest tests/train/test_warp_sim.py
DEVICE = os.environ.get("EUREKA_WARP_TEST_DEVICE", "cpu")
N = 16  # worlds of each task's WarpSim; random states of the one-step test
LIMIT, STEPS = 20, 24  # the episode test: time limit and env steps


@pytest.fixture(scope="module")
def sims():
    """``sims(name)``: the task's WarpSim (N worlds, time limit LIMIT), made once per module: Warp loads a
    model's kernels once (seconds each on the CPU), and every test resets the worlds it uses."""
    made: dict[str, WarpSim] = {}

    def get(name: str) -> WarpSim:
        if name not in made:
            made[name] = WarpSim(tasks.make(name), N, seed=0, device=DEVICE, max_episode_steps=LIMIT)
        return made[name]

    yield get
    for sim in made.values():
        sim.close()


def visited_states(task, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` (qpos, qvel) pairs a Gymnasium env visits under random actions (contacts included)."""
    env = task.make_env()
    base = env.unwrapped
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    qs, vs = [], []
    while len(qs) < k:
        for _ in range(int(rng.integers(1, 30))):
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape) * env.action_space.high)
            if term or trunc:
                env.reset(seed=int(rng.integers(1 << 30)))
        qs.append(base.data.qpos.copy())
        vs.append(base.data.qvel.copy())
    env.close()
    return np.array(qs), np.array(vs)


def near_bound(base, qpos: np.ndarray, tol: float = 1e-4) -> bool:
    """Whether a healthy-range test of ``qpos`` is within ``tol`` of its bound (float32 may decide otherwise)."""
    kind = type(base).__name__
    if kind in ("HopperEnv", "Walker2dEnv"):
        values = [(qpos[1], base._healthy_z_range), (qpos[2], base._healthy_angle_range)]
    elif kind in ("AntEnv", "HumanoidEnv"):
        values = [(qpos[2], base._healthy_z_range)]
    else:
        values = []
    return any(min(abs(v - lo), abs(v - hi)) < tol for v, (lo, hi) in values)


@needs_warp
@pytest.mark.parametrize("name", TASKS)
def test_one_step_from_random_states_matches_gymnasium(name, sims):
    import mujoco

    task = tasks.make(name)
    K = N
    qpos, qvel = visited_states(task, K)
    sim = sims(name)
    obs0 = sim.set_state(qpos, qvel).cpu().numpy()
    env = task.make_env()
    base = env.unwrapped
    env.reset(seed=0)
    acts = np.random.default_rng(1).uniform(-1, 1, (K, *env.action_space.shape)) * env.action_space.high
    g_obs0, g_obs, g_rew, g_term, g_info = [], [], [], [], []
    for k in range(K):
        mujoco.mj_resetData(base.model, base.data)
        base.set_state(qpos[k], qvel[k])
        g_obs0.append(base._get_obs())
        o, r, term, _, info = base.step(acts[k])
        g_obs.append(o)
        g_rew.append(r)
        g_term.append(term)
        g_info.append(info)
    out = sim.step(torch.as_tensor(acts, dtype=torch.float32, device=DEVICE))
    nq, nv = base.model.nq, base.model.nv
    g_obs0, g_obs = np.array(g_obs0), np.array(g_obs)
    w_obs = out.reward_obs.cpu().numpy()
    rows = np.ones(K, dtype=bool)
    if name == "ant":  # see the module's docstring: RK4 steps that touch the contact margin differ
        err = np.abs(w_obs[:, :nq] - g_obs[:, :nq]).max(1)
        assert err.max() < 0.05, f"ant qpos: max error {err.max():.3g} over one step"
        rows = err < 1e-5
        assert rows.sum() >= K // 3, f"ant: only {rows.sum()} of {K} states agree to 1e-5 in qpos"

    def close(a, b, tol, what):
        err = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
        assert err.max() <= tol, f"{name} {what}: max error {err.max():.3g} > {tol:g}"

    close(obs0, g_obs0, 1e-5, "observation after set_state")
    close(w_obs[rows, :nq], g_obs[rows, :nq], 1e-5, "qpos")
    close(w_obs[rows, nq:nq + nv], g_obs[rows, nq:nq + nv], 1e-3, "qvel")
    if g_obs.shape[1] > nq + nv:
        extra = slice(nq + nv, None)
        scale = np.maximum(np.abs(g_obs[rows, extra]).max(), 1.0)
        err = np.abs(w_obs[rows, extra] - g_obs[rows, extra]).max() / scale
        assert err <= 1e-2, f"{name} extra observation columns: max error {err:.3g} (relative to {scale:.3g})"
    close(out.env_reward.cpu().numpy()[rows], np.array(g_rew)[rows], 1e-4, "env reward")
    for key in ("reward_forward", "reward_ctrl", "reward_survive", "reward_contact", "x_velocity", "x_position"):
        if key in g_info[0]:
            close(sim.last_terms[key].cpu().numpy()[rows], np.array([i[key] for i in g_info])[rows], 1e-4, key)
    decided = rows & ~np.array([near_bound(base, o[:nq]) for o in g_obs])
    assert (out.terminated.cpu().numpy()[decided] == np.array(g_term)[decided]).all()
    assert not out.truncated.any()
    env.close()


def linear_policy(obs_dim: int, act_dim: int, high: np.ndarray, seed: int = 0):
    """A fixed (untrained) feedback policy on the observation the policy sees: tanh(W obs) * high."""
    W = np.random.default_rng(seed).normal(0, 0.3 / math.sqrt(obs_dim), (obs_dim, act_dim))
    return lambda obs: np.tanh(obs @ W) * high


def episodes_gymnasium(task, n_envs: int, steps: int, limit: int, policy, hidden: int) -> tuple[list, list]:
    env = gym.vector.SyncVectorEnv([lambda: task.make_env(max_episode_steps=limit) for _ in range(n_envs)],
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = env.reset(seed=0)
    ret, length = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    returns, lengths = [], []
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(policy(obs[:, hidden:]))
        ret += r
        length += 1
        for i in np.flatnonzero(term | trunc):
            returns.append(ret[i])
            lengths.append(length[i])
            ret[i], length[i] = 0.0, 0
    env.close()
    return returns, lengths


def episodes_warp(sim: WarpSim, steps: int, policy, hidden: int) -> tuple[list, list]:
    n_envs = sim.num_envs
    obs = sim.reset().cpu().numpy()
    ret, length = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    returns, lengths = [], []
    for _ in range(steps):
        out = sim.step(torch.as_tensor(policy(obs[:, hidden:]), dtype=torch.float32, device=DEVICE))
        obs = out.obs.cpu().numpy()
        ret += out.env_reward.cpu().numpy()
        length += 1
        for i in np.flatnonzero((out.terminated | out.truncated).cpu().numpy()):
            returns.append(ret[i])
            lengths.append(length[i])
            ret[i], length[i] = 0.0, 0
    return returns, lengths


def agree(a: list, b: list, what: str) -> None:
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    se = math.sqrt(a_.var(ddof=1) / len(a_) + b_.var(ddof=1) / len(b_)) if min(len(a_), len(b_)) > 1 else 0.0
    diff = abs(a_.mean() - b_.mean())
    bound = 4 * se + 0.1 * abs(b_.mean())
    assert diff <= bound, f"{what}: warp {a_.mean():.4g} vs gymnasium {b_.mean():.4g} (n={len(a_)}, {len(b_)}; " \
        f"allowed {bound:.3g})"


@needs_warp
@pytest.mark.parametrize("name", TASKS)
def test_whole_episodes_agree_in_distribution(name, sims):
    """Returns and lengths of a fixed policy's episodes (LIMIT-step limit): the same distribution on both sims."""
    task = tasks.make(name)
    probe = task.make_env()
    hidden = task.hidden_obs
    policy = linear_policy(probe.observation_space.shape[0] - hidden, probe.action_space.shape[0],
                           probe.action_space.high)
    probe.close()
    sim = sims(name)
    assert sim.max_episode_steps == LIMIT
    w_ret, w_len = episodes_warp(sim, STEPS, policy, hidden)
    g_ret, g_len = episodes_gymnasium(task, N, STEPS, LIMIT, policy, hidden)
    n_envs = N
    assert len(w_ret) >= n_envs and len(g_ret) >= n_envs
    agree(w_ret, g_ret, f"{name} mean return")
    agree(w_len, g_len, f"{name} mean episode length")


REWARD = ("import torch\ndef compute_reward(x_velocity, torso_angle, actions):\n"
          "    fwd = x_velocity\n    upright = torch.exp(-torso_angle ** 2 / 0.04)\n"
          "    return fwd + upright, {'forward': fwd, 'upright': upright}\n")


def test_trainer_sim_warp_says_why_it_cannot_run(monkeypatch):
    with pytest.raises(ConfigError, match="trainer.sim=warp: .*no Warp model"):
        choose_sim(tasks.make("cartpole"), "warp")
    monkeypatch.setattr(warp_sim, "warp_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"MuJoCo Warp is not installed \(pip install"):
        choose_sim(tasks.make("hopper"), "warp")


def test_the_cli_refuses_warp_for_a_task_without_a_warp_model_before_any_work():
    from eureka.cli import compose_configs, preflight

    with pytest.raises(ConfigError, match="trainer.sim=warp"):
        for cfg in compose_configs(["trainer.backend=vector", "trainer.sim=warp", "task=cartpole"]):
            preflight(cfg)


def test_warp_is_imported_only_when_used():
    """The CPU sims and the trainer never import warp / mujoco_warp (CPU machines without them keep working)."""
    import subprocess
    import sys

    code = ("import sys\nfrom eureka import tasks\nfrom eureka.train.vector import trainer, sims\n"
            "sims.make_sim(tasks.make('hopper'), 2, 0, 'gymnasium').close()\n"
            "assert 'warp' not in sys.modules and 'mujoco_warp' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@needs_warp
def test_a_tiny_jailed_training_on_warp_loads_the_users_compiled_kernels(tmp_path, sims):
    """The tiny training on the Warp backend (CI): trainer.backend=vector trainer.sim=warp trainer.device=cpu
    (or EUREKA_WARP_TEST_DEVICE), in its jail (HOME = its empty scratch). It still finds Warp's compiled kernels
    in the user's ~/.cache/warp before the walls (the ``sims`` fixture compiled hopper's there; a cold cache
    costs ~50 s of compilation per training on the CPU); the candidate's reward and metrics, and a policy the
    evaluator (Gymnasium's env, outside the jail) scores."""
    from eureka.train import LocalExecutor

    path = tmp_path / "reward.py"
    path.write_text(REWARD)
    sims("hopper")  # the kernels in this user's cache (a cold cache: compiled), for N worlds
    spec = TrainSpec(job_id="jw", task="hopper", mode="candidate", reward_path=str(path), backend="vector",
                     sim="warp", device=DEVICE, total_timesteps=512, num_envs=N,
                     vector={"num_steps": 16, "update_epochs": 1, "num_minibatches": 2}, eval_episodes=2,
                     tensorboard=False, out_dir=str(tmp_path / "jw"))
    [r] = LocalExecutor(1, timeout_s=600).run([spec])
    assert r.ok, r.failure
    assert r.walls and "landlock" in r.walls
    assert r.steps == 512 and r.fitness is not None and len(r.eval_lengths) == 2
    assert r.snapshots and r.snapshots[-1].episodes > 0 and set(r.snapshots[-1].components) == {"forward", "upright"}
    assert (tmp_path / "jw" / "policy.safetensors").exists()
    assert r.wall_time_s < 45, f"{r.wall_time_s:.0f} s: the jail compiled Warp's kernels again?"
