"""``trainer.sim=warp``: Gymnasium's v5 MuJoCo locomotion tasks batched on MuJoCo Warp (``mujoco-warp``).

One ``mujoco_warp`` model and ``N`` worlds on the training's device (``cpu``: Warp's CPU mode, for
development and tests; ``cuda``: thousands of worlds on one GPU). The model is the one the task's own
Gymnasium env loads (its XML and keyword arguments: ``task.make_env().unwrapped.model``), and the env's
settings are read from that env too: ``frame_skip``, the reset noise, the healthy ranges, the reward weights
and the time limit. What a step computes is what the v5 env's ``step`` computes, for all worlds at once
as torch tensors on the device (Warp's arrays seen through ``wp.to_torch``: no copies, no host round trip):

- ``frame_skip`` physics steps (``mjw.step``), then ``rne_postconstraint`` (``cfrc_ext``, as
  ``MujocoEnv._step_mujoco_simulation`` calls ``mj_rnePostConstraint``) where the observation or the
  reward reads contact forces (ant, humanoid);
- the observation (``exclude_current_positions_from_observation`` as the env was made: the task keeps
  the x (and y) position for the reward and hides it from the policy), the env-reward terms
  (``reward_forward``, ``reward_ctrl``, ``reward_survive``, ``reward_contact`` in ``last_terms``),
  the termination (the healthy ranges) and the time limit (``truncated``);
- a finished world is reset in the same step (Gymnasium's ``SAME_STEP`` autoreset): ``reward_obs``
  keeps its last observation, ``obs`` the new episode's first. The reset is Gymnasium's: all of the
  world's data zeroed (``mjw.reset_data``), ``init_qpos`` / ``init_qvel`` plus the env's noise
  (uniform or normal, its ``reset_noise_scale``), drawn on the device from a generator seeded by
  ``seed`` (the same distribution as Gymnasium's ``np_random``, not the same numbers).

Physics differs from MuJoCo's C engine only by float32 arithmetic and solver convergence; the equivalence
tests (tests/train/test_warp_sim.py) state the tolerances. On CUDA the ``frame_skip`` steps are one CUDA
graph (captured on the first step) launched on a Warp stream ordered with torch's current stream.

``warp`` and ``mujoco_warp`` are imported only when a ``WarpSim`` is made (``trainer.sim=warp``).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np
import torch

from eureka.errors import ConfigError
from eureka.tasks import Task
from eureka.train.vector.step import SimStep

# Gymnasium's v5 env classes this module batches (a user's env that subclasses one works the same way)
_KINDS = {"hopper": ("gymnasium.envs.mujoco.hopper_v5", "HopperEnv"),
          "walker2d": ("gymnasium.envs.mujoco.walker2d_v5", "Walker2dEnv"),
          "half_cheetah": ("gymnasium.envs.mujoco.half_cheetah_v5", "HalfCheetahEnv"),
          "ant": ("gymnasium.envs.mujoco.ant_v5", "AntEnv"),
          "humanoid": ("gymnasium.envs.mujoco.humanoid_v5", "HumanoidEnv")}
log = logging.getLogger(__name__)
INSTALL = "pip install 'eureka-rl[warp]' (or: pip install mujoco-warp)"


def warp_installed() -> bool:
    """Whether ``mujoco_warp`` can be imported here (without importing it)."""
    return importlib.util.find_spec("mujoco_warp") is not None and importlib.util.find_spec("warp") is not None


def env_kind(env: Any) -> str | None:
    """Which v5 locomotion env ``env`` (a Gymnasium env, wrapped or not) is: ``hopper`` ... ``humanoid``, or None."""

    base = getattr(env, "unwrapped", env)
    for kind, (module, cls) in _KINDS.items():
        if isinstance(base, getattr(importlib.import_module(module), cls)):
            return kind
    return None


def warp_gap(task: Task) -> str | None:
    """Why ``trainer.sim=warp`` cannot simulate ``task`` (None: it can)."""
    if not warp_installed():
        return f"MuJoCo Warp is not installed ({INSTALL})"
    try:
        probe = task.make_env()
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        return f"task '{task.name}''s env cannot be made: {type(exc).__name__}: {exc}"
    try:
        if env_kind(probe) is None:
            names = ", ".join(f"{m.rsplit('.', 1)[1]}.{c}" for m, c in _KINDS.values())
            return (f"task '{task.name}' has no Warp model: its env is not one of Gymnasium's v5 MuJoCo envs "
                    f"MuJoCo Warp batches here ({names}) or a subclass of one")
    finally:
        probe.close()
    return None


def _use_the_users_kernel_cache(wp: Any) -> None:
    """Warp's compiled kernels from the cache of the user running eureka (``~/.cache/warp``), also in a jail.

    A jail's HOME is its empty scratch: Warp would compile every kernel again in every training (~50 s on
    the CPU). The jail is still root (or the user) when the sim is made, before its walls; it reads and
    fills the user's cache then, and after the walls it can write there no more. ``WARP_CACHE_PATH`` (Warp's
    own setting) wins where it reaches the process.
    """
    import os
    import pwd

    if os.environ.get("WARP_CACHE_PATH") or wp.config.kernel_cache_dir is not None:
        return
    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return
    if home and os.path.realpath(os.path.expanduser("~")) != os.path.realpath(home):
        wp.config.kernel_cache_dir = os.path.join(home, ".cache", "warp")


def warp_device(device: str | torch.device) -> str:
    """Warp's name for the torch device ``device`` (``cpu``, ``cuda:<index>``)."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return "cpu"
    if dev.type != "cuda":
        raise ConfigError(f"trainer.sim=warp runs on cpu or cuda, not on {dev}")
    return f"cuda:{dev.index if dev.index is not None else torch.cuda.current_device()}"


class WarpSim:
    """``N`` worlds of a v5 MuJoCo locomotion task on MuJoCo Warp; every batch a torch tensor on ``device``.

    ``max_episode_steps``: the time limit (default: the env's registered one, 1000 for these tasks).
    """

    name = "warp"
    tensors = True  # step() takes and returns torch tensors on self.device (the trainer keeps them there)

    def __init__(self, task: Task, num_envs: int, seed: int, device: str | torch.device = "cpu",
                 max_episode_steps: int | None = None):
        if not warp_installed():
            raise ConfigError(f"trainer.sim=warp: MuJoCo Warp is not installed ({INSTALL})")
        import mujoco

        wp: Any = importlib.import_module("warp")  # typed as Any: no stubs needed where Warp is absent
        mjw: Any = importlib.import_module("mujoco_warp")
        wp.config.quiet = True  # no banner, and no line per kernel module loaded
        wp.config.log_level = max(wp.config.log_level, wp.LOG_WARNING)
        _use_the_users_kernel_cache(wp)
        self.wp, self.mjw = wp, mjw
        env = task.make_env()
        kind = env_kind(env)
        if kind is None:
            env.close()
            raise ConfigError(f"trainer.sim=warp: {warp_gap(task)}")
        base: Any = env.unwrapped
        self.kind, self.num_envs = kind, num_envs
        self.device = torch.device(device)
        self.wp_device = warp_device(self.device)
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        spec_steps = env.spec.max_episode_steps if env.spec is not None else None
        self.max_episode_steps = max_episode_steps if max_episode_steps is not None else spec_steps
        self._read_settings(base)
        mjm = base.model
        env.close()
        if mjm.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
            # MuJoCo Warp has no PGS (humanoid.xml asks for it): Newton solves the same convex problem
            mjm.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
            log.info("%s: the model's PGS solver is replaced by Newton on MuJoCo Warp", task.name)
        N = num_envs
        with wp.ScopedDevice(self.wp_device):
            try:
                self.m = mjw.put_model(mjm)
            except NotImplementedError as exc:  # a feature of the XML MuJoCo Warp lacks
                raise ConfigError(f"trainer.sim=warp: MuJoCo Warp cannot batch task '{task.name}''s model: "
                                  f"{exc}; use trainer.sim=envpool or gymnasium") from None
            self.d = mjw.make_data(mjm, nworld=N)
            self._mask_wp = wp.zeros(N, dtype=bool)
        self._mask = wp.to_torch(self._mask_wp)  # the worlds reset_data resets (written in place)
        T = wp.to_torch
        d = self.d
        self.qpos, self.qvel, self.ctrl = T(d.qpos), T(d.qvel), T(d.ctrl)
        self._cfrc_ext = T(d.cfrc_ext) if self._needs_cfrc else None  # [N, nbody, 6]
        if kind == "humanoid":
            self._xipos, self._cinert, self._cvel = T(d.xipos), T(d.cinert), T(d.cvel)
            self._qfrc_actuator = T(d.qfrc_actuator)
            self._mass = torch.as_tensor(mjm.body_mass, dtype=torch.float32, device=self.device)
        elif kind == "ant":
            self._xpos = T(d.xpos)
            self._main = int(mjm.body(self._main_body).id)
        f32, dev = torch.float32, self.device
        self.init_qpos = torch.as_tensor(self._init_qpos, dtype=f32, device=dev)
        self.init_qvel = torch.as_tensor(self._init_qvel, dtype=f32, device=dev)
        self.elapsed = torch.zeros(N, dtype=torch.int64, device=self.device)
        self._before = torch.zeros(N, 2, dtype=f32, device=dev)  # where x_velocity is measured from (see _position)
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(int(seed))
        self._all = torch.ones(N, dtype=torch.bool, device=self.device)
        self._empty: list[dict] = [{} for _ in range(N)]
        self.last_terms: dict[str, torch.Tensor] = {}
        self._graph: Any = None
        self._stream: Any = None
        # every kernel is loaded (compiled on a cold cache) now, before a jail's walls go up: a step and a reset
        if self.device.type == "cuda":
            self._stream = wp.Stream(self.wp_device)
            self._capture()
        else:
            self._run(self._simulate)
        self._reset_worlds(self._all)

    def _read_settings(self, base: Any) -> None:
        """The env's own settings (its constructor's keyword arguments as the env keeps them)."""
        self.frame_skip = int(base.frame_skip)
        self.dt = float(base.dt)
        self._init_qpos = np.asarray(base.init_qpos, dtype=np.float64).copy()
        self._init_qvel = np.asarray(base.init_qvel, dtype=np.float64).copy()
        self._noise = float(base._reset_noise_scale)
        self._normal_qvel = self.kind in ("half_cheetah", "ant")  # qvel noise: scale * standard normal
        self._forward_w = float(base._forward_reward_weight)
        self._ctrl_w = float(base._ctrl_cost_weight)
        self._exclude = bool(base._exclude_current_positions_from_observation)
        self._healthy_reward = float(getattr(base, "_healthy_reward", 0.0))
        self._terminate = bool(getattr(base, "_terminate_when_unhealthy", False))
        self._z_range = tuple(map(float, getattr(base, "_healthy_z_range", (-np.inf, np.inf))))
        self._angle_range = tuple(map(float, getattr(base, "_healthy_angle_range", (-np.inf, np.inf))))
        self._state_range = tuple(map(float, getattr(base, "_healthy_state_range", (-np.inf, np.inf))))
        self._needs_cfrc = False
        if self.kind == "ant":
            self._main_body = base._main_body
            self._contact_w = float(base._contact_cost_weight)
            self._contact_range = tuple(map(float, base._contact_force_range))
            self._include_cfrc = bool(base._include_cfrc_ext_in_observation)
            self._needs_cfrc = self._include_cfrc or self._contact_w != 0.0
        elif self.kind == "humanoid":
            self._contact_w = float(base._contact_cost_weight)
            self._contact_cost_range = tuple(map(float, base._contact_cost_range))
            self._include = (bool(base._include_cinert_in_observation), bool(base._include_cvel_in_observation),
                             bool(base._include_qfrc_actuator_in_observation),
                             bool(base._include_cfrc_ext_in_observation))
            self._needs_cfrc = self._include[3] or self._contact_w != 0.0

    # -- physics ---------------------------------------------------------------------------------------

    def _simulate(self) -> None:
        for _ in range(self.frame_skip):
            self.mjw.step(self.m, self.d)
        if self._needs_cfrc:
            self.mjw.rne_postconstraint(self.m, self.d)

    def _run(self, fn: Any) -> None:
        """Run Warp work ``fn`` after what torch queued, and before what torch queues next."""
        wp = self.wp
        if self._stream is None:
            with wp.ScopedDevice(self.wp_device):
                fn()
            return
        torch_stream = wp.stream_from_torch(torch.cuda.current_stream(self.device))
        self._stream.wait_stream(torch_stream)
        with wp.ScopedDevice(self.wp_device), wp.ScopedStream(self._stream):
            fn()
        torch_stream.wait_stream(self._stream)

    def _physics(self) -> None:
        if self._graph is None:
            self._run(self._simulate)
        else:
            self._run(lambda: self.wp.capture_launch(self._graph, stream=self._stream))

    def _capture(self) -> None:
        """On CUDA: the ``frame_skip`` steps as one CUDA graph (a capture records the launches, it runs
        nothing; the step before it loads the kernels, on data ``reset`` overwrites)."""
        wp = self.wp
        self._run(self._simulate)
        try:
            with wp.ScopedDevice(self.wp_device), \
                    wp.ScopedCapture(device=self.wp_device, stream=self._stream) as cap:
                self._simulate()
            self._graph = cap.graph
        except Exception as exc:  # noqa: BLE001 - the steps still run, launched one by one
            self._graph = None
            log.warning("MuJoCo Warp on %s: no CUDA graph (%s: %s); the physics launches kernel by kernel",
                        self.wp_device, type(exc).__name__, exc)

    def _reset_worlds(self, mask: torch.Tensor) -> None:
        """Gymnasium's reset (``mj_resetData``, then ``init_qpos`` / ``init_qvel`` plus noise, ``mj_forward``)
        of the worlds where ``mask`` is True."""
        self._mask.copy_(mask)
        self._run(lambda: self.mjw.reset_data(self.m, self.d, reset=self._mask_wp))
        N, s = self.num_envs, self._noise
        rows = mask[:, None]
        qpos = self.init_qpos + (torch.rand((N, self.init_qpos.numel()), generator=self._gen, device=self.device)
                                 * (2 * s) - s)
        if self._normal_qvel:
            noise = s * torch.randn((N, self.init_qvel.numel()), generator=self._gen, device=self.device)
        else:
            noise = torch.rand((N, self.init_qvel.numel()), generator=self._gen, device=self.device) * (2 * s) - s
        self.qpos.copy_(torch.where(rows, qpos, self.qpos))
        self.qvel.copy_(torch.where(rows, self.init_qvel + noise, self.qvel))
        if self.kind in ("ant", "humanoid"):  # what mj_forward gives the first observation and the position
            self._run(self._forward_parts)
        if self.kind == "humanoid":
            self._qfrc_actuator.mul_(~rows)  # zero ctrl after mj_resetData: no actuator force
        if self._cfrc_ext is not None:
            self._cfrc_ext.mul_(~mask[:, None, None])  # mj_resetData zeroes it; mj_forward does not compute it
        self._before.copy_(torch.where(rows, self._position(), self._before))
        self.elapsed.masked_fill_(mask, 0)

    def _forward_parts(self) -> None:
        """The part of ``mj_forward`` a reset observation reads: body positions (ant, humanoid), inertias and
        velocities (humanoid). It runs on every world; the others' values are recomputed by the next step."""
        self.mjw.kinematics(self.m, self.d)
        if self.kind == "humanoid":
            self.mjw.com_pos(self.m, self.d)
            self.mjw.com_vel(self.m, self.d)

    def _position(self) -> torch.Tensor:
        """``[N, 2]``: what the env measures x_velocity from (the root's x; the torso's, the centre of mass's x, y)."""
        if self.kind == "ant":
            return self._xpos[:, self._main, :2].clone()
        if self.kind == "humanoid":
            com = (self._mass[None, :, None] * self._xipos).sum(1) / self._mass.sum()
            return com[:, :2]
        return torch.stack([self.qpos[:, 0], torch.zeros_like(self.qpos[:, 0])], 1)

    # -- the v5 envs' observations, rewards and terminations -------------------------------------------------

    def _obs(self) -> torch.Tensor:
        qpos = self.qpos[:, (2 if self.kind in ("ant", "humanoid") else 1):] if self._exclude else self.qpos
        qvel = self.qvel
        if self.kind in ("hopper", "walker2d"):
            qvel = qvel.clamp(-10.0, 10.0)
        parts = [qpos, qvel]
        N = self.num_envs
        if self.kind == "ant" and self._include_cfrc:
            assert self._cfrc_ext is not None
            parts.append(self._contact_forces()[:, 1:].reshape(N, -1))
        elif self.kind == "humanoid":
            cinert, cvel, qfrc, cfrc = self._include
            if cinert:
                parts.append(self._cinert[:, 1:].reshape(N, -1))
            if cvel:
                parts.append(self._cvel[:, 1:].reshape(N, -1))
            if qfrc:
                parts.append(self._qfrc_actuator[:, 6:])
            if cfrc:
                assert self._cfrc_ext is not None
                parts.append(self._cfrc_ext[:, 1:].reshape(N, -1))
        return torch.cat(parts, 1)

    def _contact_forces(self) -> torch.Tensor:
        assert self._cfrc_ext is not None
        return self._cfrc_ext.clamp(*self._contact_range)

    def _healthy(self) -> torch.Tensor:
        qpos, kind = self.qpos, self.kind
        if kind == "hopper":
            lo, hi = self._state_range
            state = torch.cat([qpos[:, 2:], self.qvel], 1)
            return (((lo < state) & (state < hi)).all(1) & (self._z_range[0] < qpos[:, 1])
                    & (qpos[:, 1] < self._z_range[1]) & (self._angle_range[0] < qpos[:, 2])
                    & (qpos[:, 2] < self._angle_range[1]))
        if kind == "walker2d":
            return ((self._z_range[0] < qpos[:, 1]) & (qpos[:, 1] < self._z_range[1])
                    & (self._angle_range[0] < qpos[:, 2]) & (qpos[:, 2] < self._angle_range[1]))
        if kind == "ant":
            finite = torch.isfinite(qpos).all(1) & torch.isfinite(self.qvel).all(1)
            return finite & (self._z_range[0] <= qpos[:, 2]) & (qpos[:, 2] <= self._z_range[1])
        if kind == "humanoid":
            return (self._z_range[0] < qpos[:, 2]) & (qpos[:, 2] < self._z_range[1])
        return self._all

    def _rewards(self, velocity: torch.Tensor, actions: torch.Tensor, healthy: torch.Tensor
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        forward = self._forward_w * velocity[:, 0]
        ctrl = self._ctrl_w * (actions * actions).sum(1)
        terms = {"x_velocity": velocity[:, 0], "reward_forward": forward, "reward_ctrl": -ctrl}
        reward = forward - ctrl
        if self.kind != "half_cheetah":
            survive = self._healthy_reward * healthy.float()  # v5: is_healthy * healthy_reward
            terms["reward_survive"] = survive
            reward = reward + survive
        if self.kind == "ant":
            contact = self._contact_w * self._contact_forces().square().sum((1, 2))
            terms["reward_contact"] = -contact
            reward = reward - contact
        elif self.kind == "humanoid":
            assert self._cfrc_ext is not None
            contact = (self._contact_w * self._cfrc_ext.square().sum((1, 2))).clamp(*self._contact_cost_range)
            terms["reward_contact"] = -contact
            reward = reward - contact
        return reward, terms

    # -- the SimStep interface -----------------------------------------------------------------------------

    def reset(self) -> torch.Tensor:
        self._reset_worlds(self._all)
        return self._obs()

    def set_state(self, qpos: Any, qvel: Any) -> torch.Tensor:
        """Gymnasium's ``set_state`` (then ``mj_forward``) on every world at once (for tests); the observation."""
        self._reset_worlds(self._all)
        self.qpos.copy_(torch.as_tensor(qpos, dtype=torch.float32, device=self.device))
        self.qvel.copy_(torch.as_tensor(qvel, dtype=torch.float32, device=self.device))
        self._run(lambda: self.mjw.forward(self.m, self.d))
        if self._cfrc_ext is not None:
            self._cfrc_ext.zero_()
        self._before.copy_(self._position())
        return self._obs()

    def step(self, actions: Any) -> SimStep:
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device).reshape(self.num_envs, -1)
        self.ctrl.copy_(a)
        self._physics()
        after = self._position()
        velocity = (after - self._before) / self.dt
        self._before.copy_(after)
        obs = self._obs()
        healthy = self._healthy()
        reward, self.last_terms = self._rewards(velocity, a, healthy)
        self.last_terms["x_position"] = self.qpos[:, 0].clone()
        terminated = ~healthy if self._terminate else torch.zeros_like(healthy)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps if self.max_episode_steps else torch.zeros_like(healthy)
        done = terminated | truncated
        # on the CPU a look at done costs nothing; on a GPU it would wait for the device: reset every step
        if self.device.type != "cpu" or bool(done.any()):
            self._reset_worlds(done)
            next_obs = torch.where(done[:, None], self._obs(), obs)
        else:
            next_obs = obs
        return SimStep(next_obs, obs, reward, terminated, truncated, None, self._empty)

    def close(self) -> None:
        self._graph = None
