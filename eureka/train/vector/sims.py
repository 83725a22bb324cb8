"""Batched simulators for the vectorized trainer: EnvPool (C++ threads) and Gymnasium's vector env.

Both give the trainer the task's full observation (hidden columns included: the state extractor
reads them, the policy does not), the env's own reward and the episode ends of all ``N`` envs
as arrays, one call per batched step. Their reset conventions differ and are hidden here:

- Gymnasium (``autoreset_mode=SAME_STEP``): a finished env is reset inside the step; its last
  observation comes in ``info["final_obs"]`` and is put back into ``reward_obs``.
- EnvPool resets a finished env on the *next* step (that step's action is ignored, its reward
  is 0): the step returns ``valid=False`` there, and the trainer learns nothing from it and
  counts no fitness for it.

``reward_obs`` is always the state after the step as the reward sees it (a finished episode's
last observation, not the next episode's first), exactly what SB3's path hands the reward.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from eureka.errors import ConfigError
from eureka.tasks import Task
from eureka.train.vector.step import SimStep

SIMS = ("auto", "envpool", "gymnasium", "warp")
log = logging.getLogger(__name__)


class GymnasiumSim:
    """``N`` copies of the task's Gymnasium env in one process (any env, including a user's own)."""

    name = "gymnasium"

    def __init__(self, task: Task, num_envs: int, seed: int):
        self.env = gym.vector.SyncVectorEnv([task.make_env for _ in range(num_envs)],
                                            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.num_envs, self.seed = num_envs, seed
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self._empty: list[dict] = [{} for _ in range(num_envs)]

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self.seed)
        self.env.action_space.seed(self.seed)
        return np.asarray(obs, dtype=np.float32)

    def step(self, actions: np.ndarray) -> SimStep:
        obs, rew, term, trunc, info = self.env.step(actions)
        obs = np.asarray(obs, dtype=np.float32)
        done = term | trunc
        reward_obs = obs
        if done.any() and "final_obs" in info:
            reward_obs = obs.copy()
            for i in np.flatnonzero(done):
                reward_obs[i] = info["final_obs"][i]
        return SimStep(obs, reward_obs, np.asarray(rew, dtype=np.float64), term.astype(bool), trunc.astype(bool),
                       None, _per_env(info, self.num_envs) if _has_user_info(info) else self._empty)

    def close(self) -> None:
        self.env.close()


def _has_user_info(info: dict) -> bool:
    return any(not k.startswith("_") and k not in ("final_obs", "final_info") for k in info)


def _per_env(info: dict, n: int) -> list[dict]:
    """Gymnasium's batched info (arrays plus ``_key`` masks) as one dict per env, as the extractor expects."""
    out: list[dict] = [{} for _ in range(n)]
    for key, value in info.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = info.get(f"_{key}")
        for i in range(n):
            if mask is None or mask[i]:
                out[i][key] = value[i]
    return out


class EnvPoolSim:
    """EnvPool's batched C++ env (threads, not processes) for a task whose env EnvPool has."""

    name = "envpool"

    def __init__(self, task: Task, num_envs: int, seed: int, threads: int = 1):
        import envpool

        assert isinstance(task.env_id, str)
        with warnings.catch_warnings():  # "Box low's precision lowered by casting to float32"
            warnings.simplefilter("ignore", UserWarning)
            self.env = envpool.make(task.env_id, env_type="gymnasium", num_envs=num_envs, batch_size=num_envs,
                                    num_threads=max(1, threads), seed=int(seed), **task.env_kwargs)
        self.num_envs = num_envs
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self._prev_done = np.zeros(num_envs, dtype=bool)
        self._empty: list[dict] = [{} for _ in range(num_envs)]
        self._discrete = isinstance(self.action_space, gym.spaces.Discrete)

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset()
        self._prev_done[:] = False
        return np.asarray(obs, dtype=np.float32)

    def step(self, actions: np.ndarray) -> SimStep:
        actions = actions.astype(np.int32 if self._discrete else np.float64, copy=False)
        obs, rew, term, trunc, _ = self.env.step(actions)
        obs = np.asarray(obs, dtype=np.float32)
        valid = ~self._prev_done
        term, trunc = term & valid, trunc & valid
        self._prev_done = term | trunc
        return SimStep(obs, obs, np.asarray(rew, dtype=np.float64), term, trunc,
                       None if valid.all() else valid, self._empty)

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


@functools.lru_cache(maxsize=1)
def _envpool_ids() -> frozenset[str]:
    try:
        import envpool
    except ImportError:
        return frozenset()
    return frozenset(envpool.list_all_envs())


def envpool_gap(task: Task) -> str | None:
    """Why EnvPool cannot simulate ``task`` exactly as Gymnasium does (None: it can)."""
    if not isinstance(task.env_id, str):
        return f"task '{task.name}' builds its env in Python (not a registered id EnvPool has)"
    if not _envpool_ids():
        return "EnvPool is not installed (pip install envpool)"
    if task.env_id not in _envpool_ids():
        return f"EnvPool has no '{task.env_id}'"
    import envpool

    known = set(envpool.make_spec(task.env_id).config._fields)
    extra = sorted(set(task.env_kwargs) - known)
    if extra:
        return f"EnvPool's '{task.env_id}' has no option {', '.join(extra)}"
    return None


def on_gpu(device: str) -> bool:
    """Whether ``device`` (a resolved torch device: ``cpu``, ``cuda``, ``cuda:1``) is a GPU."""
    return str(device).split(":", 1)[0] == "cuda"


def choose_sim(task: Task, sim: str, device: str = "cpu") -> tuple[str, str | None]:
    """The simulator a training of ``task`` uses for ``trainer.sim=sim`` on ``device`` (the resolved
    ``trainer.device``: ``cpu`` or ``cuda[:i]``), and a one-line note when ``auto`` falls back to Gymnasium's
    vector env. ``auto`` picks ``warp`` on a GPU for a task MuJoCo Warp can batch (the v5 MuJoCo tasks, with
    ``mujoco-warp`` installed), else EnvPool where it has the task, else Gymnasium. ``trainer.sim=envpool`` for a
    task EnvPool lacks, or ``warp`` for one MuJoCo Warp cannot batch, is a ``ConfigError``."""
    if sim not in SIMS:
        raise ConfigError(f"trainer.sim={sim}: not a valid choice; valid choices: {', '.join(SIMS)}")
    if sim == "gymnasium":
        return "gymnasium", None
    if sim == "warp" or (sim == "auto" and on_gpu(device)):
        from eureka.train.vector.warp_sim import warp_gap

        why = warp_gap(task)
        if why is None:
            return "warp", None
        if sim == "warp":
            raise ConfigError(f"trainer.sim=warp: {why}; use trainer.sim=envpool or gymnasium (or auto)")
    gap = envpool_gap(task)
    if gap is None:
        return "envpool", None
    if sim == "envpool":
        raise ConfigError(f"trainer.sim=envpool: {gap}; use trainer.sim=gymnasium (or auto)")
    return "gymnasium", (f"trainer.sim=auto: {gap}, so task '{task.name}' trains on Gymnasium's vector env "
                         "(one process, slower than EnvPool)")


def sim_num_envs(num_envs: int, gpu_num_envs: int, sim_name: str, device: str) -> int:
    """The batch of a training: ``trainer.gpu_num_envs`` (per task; 0 = unset) when it simulates on a GPU
    (``warp`` on ``cuda``), else ``trainer.num_envs``."""
    if sim_name == "warp" and on_gpu(device) and gpu_num_envs > 0:
        return int(gpu_num_envs)
    return int(num_envs)


@functools.lru_cache(maxsize=16)
def _sim_name(task_name: str, sim: str, device: str) -> str:
    from eureka import tasks

    return choose_sim(tasks.make(task_name), sim, device)[0]


def simulates_on_gpu(trainer: Any, task_name: str, device: str) -> bool:
    """Whether task ``task_name``'s trainings with ``trainer`` (a ``TrainerConfig``) simulate on a GPU (the vector
    backend, ``trainer.sim`` resolving to ``warp``, ``device`` the resolved ``trainer.device`` a ``cuda`` one)."""
    if trainer.backend != "vector" or not on_gpu(device):
        return False
    return _sim_name(task_name, str(trainer.sim), device) == "warp"


def training_num_envs(trainer: Any, task_name: str, device: str) -> int:
    """``trainer.num_envs``, or ``trainer.gpu_num_envs`` where task ``task_name``'s trainings simulate on a GPU
    (``trainer`` a ``TrainerConfig``; ``device`` the resolved ``trainer.device``: ``cpu`` or ``cuda``)."""
    if trainer.gpu_num_envs <= 0 or not simulates_on_gpu(trainer, task_name, device):
        return int(trainer.num_envs)
    return int(trainer.gpu_num_envs)


def make_sim(task: Task, num_envs: int, seed: int, sim: str = "auto", threads: int = 1, device: str = "cpu") -> Any:
    """The batched simulator ``choose_sim`` names, checked to give the observation Gymnasium's env gives
    (``device``: the resolved ``trainer.device``; where WarpSim simulates; the CPU sims ignore it)."""
    name, _ = choose_sim(task, sim, device)
    if name == "warp":
        from eureka.train.vector.warp_sim import WarpSim

        return WarpSim(task, num_envs, seed, device)
    if name == "envpool":
        out = EnvPoolSim(task, num_envs, seed, threads)
        probe = task.make_env()
        same = probe.observation_space.shape == out.observation_space.shape and \
            type(probe.action_space) is type(out.action_space)
        probe.close()
        if same:
            return out
        out.close()
        if sim == "envpool":
            raise ConfigError(f"trainer.sim=envpool: EnvPool's '{task.env_id}' observations differ from "
                              f"Gymnasium's; use trainer.sim=gymnasium")
        log.info("EnvPool's %s differs from Gymnasium's: using Gymnasium's vector env", task.env_id)
    return GymnasiumSim(task, num_envs, seed)


def check_vector_backend(cfg: Any, task: Task) -> str | None:
    """Before any work, for a run on the vector backend: its settings (PPO only, ``trainer.vector`` keys of
    ``PPOSettings``, batch sizes), then the simulator; returns the line that says a task falls back to
    Gymnasium's vector env (None when it does not, or on the SB3 backend). A wrong setting is a ``ConfigError``."""
    if cfg.trainer.backend != "vector":
        return None
    from eureka.train.vector.ppo import PPOSettings

    if cfg.trainer.algo != "ppo":
        raise ConfigError(f"trainer.backend=vector trains PPO only, not trainer.algo={cfg.trainer.algo}; "
                          "use trainer.backend=sb3 for SAC")
    try:
        PPOSettings.from_dict(dict(cfg.trainer.vector))
        PPOSettings.from_dict({**cfg.trainer.vector, **cfg.trainer.gpu_vector})
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    for key in ("num_envs", "sim_threads"):
        if getattr(cfg.trainer, key) < 1:
            raise ConfigError(f"trainer.{key}={getattr(cfg.trainer, key)}: must be an integer >= 1")
    from eureka.train.process import resolve_device

    return choose_sim(task, cfg.trainer.sim, resolve_device(str(cfg.trainer.device)))[1]


def preload_sim(task: Task, sim: str, device: str = "cpu") -> None:
    """Import what ``make_sim`` will need (before a jail's walls go up; the env itself is made behind them)."""
    import gymnasium.vector  # noqa: F401

    name = choose_sim(task, sim, device)[0]
    if name == "envpool":
        import envpool  # noqa: F401

        envpool.make_spec(str(task.env_id))  # loads the env family's extension module
    elif name == "warp":
        import mujoco_warp  # noqa: F401
        import warp  # noqa: F401
    probe = task.make_env()  # the env's own modules (MuJoCo's bindings, a user's env file)
    probe.close()
