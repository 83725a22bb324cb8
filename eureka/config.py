"""The configuration schema: one dataclass per Hydra config group, with every default in one place.

``conf/config.yaml`` extends ``eureka_schema`` (registered here with Hydra's ConfigStore), so
Hydra rejects unknown keys and wrong types itself; the YAML files of the groups only hold what
differs from these defaults (a task's trainer settings, an LLM's provider and model).
``check_config`` then checks the values that need more than a type, before any work starts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from eureka.errors import ConfigError, did_you_mean


class Choice(str, Enum):
    """A choice field: Hydra accepts only its members' names (``trainer.algo=sacc`` is refused while composing,
    naming the valid choices); a member is its value everywhere else (``==``, hashing, ``str``, f-strings, JSON)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Algo(Choice):
    """``trainer.algo``: the SB3 algorithm."""

    ppo = "ppo"
    sac = "sac"  # needs continuous (Box) actions


class Device(Choice):
    """``trainer.device``: where the policy and the reward computation run."""

    auto = "auto"  # cuda when available
    cpu = "cpu"
    cuda = "cuda"


class Provider(Choice):
    """``llm.provider``: the designer."""

    offline = "offline"  # the evolutionary synthesizer (no key)
    openai = "openai"  # any OpenAI-compatible server
    replay = "replay"  # the answers of a recorded run


class Selection(Choice):
    """``loop.selection``: how the population is ranked."""

    fitness = "fitness"
    preference = "preference"  # Bradley-Terry scores of pairwise choices
    mixed = "mixed"  # mean of both ranks


class Allocation(Choice):
    """``loop.allocation``: how an iteration's training budget is split."""

    full = "full"  # every candidate its whole budget (loop.early_stop may halve)
    halving = "halving"  # successive halving
    bandit = "bandit"  # UCB over chunks (loop.bandit)


class FeedbackMode(Choice):
    """``feedback.mode``: who gives preferences."""

    fitness = "fitness"  # nobody: fitness only
    cli = "cli"  # a person at the terminal
    web = "web"  # a person on a local page
    scripted = "scripted"  # a teacher that prefers the higher fitness


class ExecutorName(Choice):
    """``executor.name``: where trainings run."""

    local = "local"  # child processes on this machine
    ray = "ray"  # one Ray task per training


class Backend(Choice):
    """``trainer.backend``: what trains each candidate."""

    sb3 = "sb3"  # Stable-Baselines3 PPO/SAC (trainer.ppo / trainer.sac; trainer.n_envs envs stepped one by one)
    vector = "vector"  # PPO on batched torch tensors over a batched simulator (eureka/train/vector)


class Sim(Choice):
    """``trainer.sim``: the vector backend's batched simulator."""

    auto = "auto"  # EnvPool where it has the task's env with the task's options, else Gymnasium's vector env
    envpool = "envpool"  # EnvPool's C++ batched envs (threads)
    gymnasium = "gymnasium"  # Gymnasium's SyncVectorEnv in one process (any env)
    warp = "warp"  # MuJoCo Warp on trainer.device (the v5 MuJoCo tasks; pip install 'eureka-rl[warp]')


def _values(choice: type[Choice]) -> tuple[str, ...]:
    return tuple(str(m.value) for m in choice)


# the valid values as strings, for messages and argument parsers
ALGOS = _values(Algo)
DEVICES = _values(Device)
PROVIDERS = _values(Provider)
SELECTIONS = _values(Selection)
FEEDBACK_MODES = _values(FeedbackMode)
EXECUTORS = _values(ExecutorName)


@dataclass
class TaskConfig:
    """``task``: which task to solve (``conf/task/<name>.yaml`` also sets its trainer defaults)."""

    name: str = MISSING  # a registered task name, or the path of a task file (task=path/to/my_task.py)


def _prices() -> dict[str, Any]:
    # max_completion: the model's own limit of completion tokens (the budget's bound when llm.max_tokens is unset)
    return {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.60, "max_completion": 16384},
            "gpt-4o": {"prompt": 2.50, "completion": 10.00, "max_completion": 16384},
            "gpt-4.1": {"prompt": 2.00, "completion": 8.00, "max_completion": 32768},
            "gpt-4.1-mini": {"prompt": 0.40, "completion": 1.60, "max_completion": 32768},
            "o4-mini": {"prompt": 1.10, "completion": 4.40, "max_completion": 100000}}


@dataclass
class BudgetConfig:
    """``llm.budget``: what the run may spend on the LLM; the search stops cleanly before going over."""

    max_tokens: int = 0  # stop asking before a request would take the run over this many tokens (0 = unlimited)
    # ... or over this cost in USD, priced with llm.prices (0 = unlimited). A ceiling: each request is estimated
    # before it is sent (prompt ~ chars/3, completion = samples x llm.max_tokens), see eureka/llm/budget.py
    max_usd: float = 0.0


@dataclass
class LLMConfig:
    """``llm``: the designer that writes candidate rewards."""

    provider: Provider = Provider.offline  # offline (evolutionary synthesizer, no key) | openai | replay
    model: str = "offline-synthesizer"  # model name sent to the server (replay: the model of the recorded run)
    base_url: str | None = None  # OpenAI-compatible server, e.g. http://localhost:8000/v1 (vLLM)
    api_key: str | None = None  # default: $OPENAI_API_KEY; never stored in the repo
    temperature: float = 1.0  # sampling temperature (offline: mutation strength)
    # run: a run reuses only its own recorded answers (resume) | shared: also the cross-run cache in cache_dir,
    # keyed by server, model, seed, messages, temperature, max_tokens, iteration and sample index
    cache: str = "run"
    cache_dir: str | None = None  # shared answer cache (default ~/.cache/eureka/llm or $EUREKA_CACHE_DIR)
    timeout_s: float = 120.0  # per request
    max_retries: int = 3  # retries with exponential backoff on 429/5xx/connection errors
    max_tokens: int | None = None  # completion tokens per answer (None = the server's default)
    use_n: bool = True  # ask for all samples in one request (n=samples) where the server supports it
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # USD per 1M tokens, per model (override or add: llm.prices.my-model.prompt=0.5)
    prices: dict[str, Any] = field(default_factory=_prices)
    concurrency: int = 4  # parents' requests in flight at once
    replay_from: str | None = None  # llm=replay: a run directory whose answers to replay (or llm.cache=shared)


@dataclass
class TrainerConfig:
    """``trainer``: how each candidate (and each final/baseline run) is trained."""

    backend: Backend = Backend.sb3  # sb3 | vector (see Backend; the task files choose per task)
    algo: Algo = Algo.ppo  # ppo | sac (sac needs continuous actions; the vector backend is PPO only)
    # env steps per training; rounded up by SB3 to a whole rollout (n_steps * n_envs for PPO)
    total_timesteps: int = 50_000
    n_envs: int = 8  # vectorized environments per training
    device: Device = Device.auto  # auto (cuda when available) | cpu | cuda
    normalize: bool = False  # VecNormalize observations and rewards
    subproc_envs: bool = False  # SubprocVecEnv (one process per env); on 2 cores DummyVecEnv is faster
    tensorboard: bool = True  # TensorBoard logs in candidates/<id>/tb (components as reward/<name>)
    timeout_s: float = 3600.0  # a training that runs longer is killed and reported as TrainingCrash
    memory_mb: int = 4096  # address space a training process may add; a reward allocating beyond it: RewardMemoryError
    max_file_mb: int = 256  # largest file a training process may write (policy, logs)
    ppo: dict[str, Any] = field(default_factory=dict)  # SB3 PPO keyword arguments ("lin_<x>" = linear schedule)
    sac: dict[str, Any] = field(default_factory=dict)  # SB3 SAC keyword arguments
    sim: Sim = Sim.auto  # vector backend: auto | envpool | gymnasium | warp (see Sim)
    num_envs: int = 64  # vector backend: environments simulated as one batch
    # vector backend on a GPU (trainer.sim resolves to warp on cuda): this batch instead of num_envs (per task in
    # conf/task/<name>.yaml; 0 = trainer.num_envs there too)
    gpu_num_envs: int = 0
    # vector backend on a GPU simulation: PPO settings that override trainer.vector's there (a rollout of
    # num_steps x gpu_num_envs; per task in conf/trainer/mujoco.yaml)
    gpu_vector: dict[str, Any] = field(default_factory=dict)
    sim_threads: int = 1  # vector backend: EnvPool's worker threads per training
    # vector backend: PPO settings (keys and defaults: PPOSettings in eureka/train/vector/ppo.py)
    vector: dict[str, Any] = field(default_factory=dict)


@dataclass
class SandboxConfig:
    """``sandbox``: limits of the workers that dry-run every candidate (``SandboxLimits``), and of reward calls
    in training."""

    workers: int = 2  # warm worker processes (torch already imported)
    timeout_s: float = 60.0  # wall-clock backstop per check (runaway code is judged by cpu_s, so load does not matter)
    cpu_s: float = 5.0  # CPU seconds per check (then the check is killed: RewardTimeout)
    memory_mb: int = 1024  # address space a check may add
    max_file_mb: int = 1  # largest file a worker may write (only in its private temp dir)
    max_open_files: int = 64  # open file descriptors per worker
    network_namespace: bool = True  # (kept for old configs: every jail has its own network namespace)
    drop_privileges: bool = True  # as root, every jail runs as a uid of its own (none shares it)
    start_timeout_s: float = 120.0  # a worker must be ready within this (wall clock)
    call_timeout_s: float = 2.0  # CPU seconds one reward call may take in training (the first 3 calls get cpu_s)
    max_tasks: int = 16  # threads a check's jail may have in all
    scratch_mb: int = 16  # a check's private scratch (tmpfs, gone with its jail)
    env_allow: list[str] = field(default_factory=list)  # variables passed into jails besides the built-in allow-list
    training_max_tasks: int = 64  # threads a training's jail may have in all
    training_scratch_mb: int = 256  # a training's private scratch (tmpfs, gone with its jail)
    training_cpu_s: float = 7200.0  # CPU seconds for a whole training, all its threads (a backstop; 0 = none)
    # Run LLM code where this machine refuses some walls (no namespaces in a container, no Landlock, no
    # seccomp; the run names them at start-up). Off: such a run stops before any LLM code runs (exit 3).
    allow_weaker: bool = False


@dataclass
class EarlyStopConfig:
    """``loop.early_stop``: successive halving of each iteration's candidates."""

    enabled: bool = False  # train all for min_fraction of the budget, continue the best 1/eta, ...
    eta: float = 2.0  # keep the best 1/eta of the candidates at each rung
    min_fraction: float = 0.25  # budget fraction of the first rung


@dataclass
class RacingConfig:
    """``loop.racing``: several search seeds per verdict (eureka/evolve/racing.py)."""

    enabled: bool = True  # re-train the most promising candidates on fresh search seeds each iteration
    seeds: int = 2  # the top candidates are trained until they have this many search seeds
    top: int = 2  # how many of the best candidates are raced each iteration
    k: float = 1.0  # rank by mean - k * std / sqrt(seeds) (a lower confidence bound over seeds)
    min_seeds: int = 2  # seeds a candidate needs before it can be the best or a parent


@dataclass
class ConfirmConfig:
    """``loop.confirm``: the crowned reward re-trained on held-out search seeds at the end of the search."""

    seeds: int = 3  # held-out seeds at least (0 = off: the search reports its selection seeds' mean, optimistic)
    max_seeds: int = 6  # ... and at most: more (two at a time) while the mean's relative standard error > rse
    rse: float = 0.1  # precision wanted: standard error of the held-out mean / |mean|


@dataclass
class BanditConfig:
    """``loop.bandit``: with ``loop.allocation=bandit``, how the iteration's budget is split online."""

    budget: float = 0.5  # the iteration's steps: this x samples x trainer.total_timesteps
    chunk: float = 0.25  # each pull continues one candidate for this fraction of trainer.total_timesteps
    c: float = 1.0  # exploration weight of the upper confidence bound
    parallel: int = 2  # pulls trained at once per round


@dataclass
class TuningConfig:
    """``loop.tuning``: tune the numeric constants of the best reward (eureka/evolve/tuning.py)."""

    enabled: bool = False  # after each iteration's selection, tune the best reward's constants (CMA-ES)
    trials: int = 6  # trainings with trial constants per tuned reward
    fraction: float = 1.0  # budget of each trial: this x trainer.total_timesteps
    seeds: int = 1  # search seeds per trial (the parent's first seeds: a paired comparison)
    ratio: float = 4.0  # each constant is searched within [value / ratio, value * ratio] (log scale)
    max_params: int = 6  # at most this many constants are lifted (the first in the code)
    sigma: float = 0.5  # CMA-ES initial step size in log space


@dataclass
class LoopConfig:
    """``loop``: the population and when the search stops."""

    selection: Selection = Selection.fitness  # fitness | preference (Bradley-Terry scores) | mixed (mean of both ranks)
    population: int = 4  # best candidates kept; each sample's parent is drawn from them (round-robin)
    islands: int = 1  # sub-populations that evolve apart (sample k belongs to island k % islands)
    migration_every: int = 2  # every this many iterations each island's best moves to the next island
    # stop the search once the best candidate reaches this fitness (the task's ceiling; null = never)
    target_fitness: float | None = None
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    racing: RacingConfig = field(default_factory=RacingConfig)
    # at the end of the search the crowned reward is re-trained on search seeds that played no part in choosing
    # it; their mean is the fitness the search reports (the selection seeds' mean is optimistic)
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig)
    allocation: Allocation = Allocation.full  # full (every candidate its whole budget; early_stop may halve) | halving | bandit
    bandit: BanditConfig = field(default_factory=BanditConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)


@dataclass
class FeedbackConfig:
    """``feedback``: preference sessions after each iteration's training."""

    mode: FeedbackMode = FeedbackMode.fitness  # fitness (none) | cli (terminal) | web (local page) | scripted (teacher)
    max_candidates: int = 4  # candidates shown per iteration (top by fitness, plus the population)
    max_pairs: int = 10  # all pairs when few, else neighbours in the fitness ranking plus random pairs
    timeout_s: float = 600.0  # idle this long without an answer: fall back to fitness (and say so; the page counts down)
    finish_delay_s: float = 3.0  # web: after the last answer the session ends after this countdown
    host: str = "127.0.0.1"  # web: where the page is served (one server for the whole run)
    port: int = 8765  # web: the next free port (of the following 50) is used when this one is busy
    open_browser: bool = False  # web: open the page in a browser when a display exists
    noise: float = 0.0  # scripted: probability the teacher picks the lower-fitness candidate
    seed: int = 0  # scripted: noise seed
    open_videos: bool = True  # cli: open videos with xdg-open/mpv/vlc when a display is present


@dataclass
class ExecutorConfig:
    """``executor``: where trainings run."""

    name: ExecutorName = ExecutorName.local  # local: child processes on this machine | ray: one Ray task per training
    max_workers: int = 0  # local: trainings at once (0 = one per CPU core); unused by Ray
    # trainings at once per GPU when they train on cuda (local: per_gpu x GPUs at most; ray: num_gpus=1/per_gpu per
    # training); 1 until measured
    per_gpu: int = 1
    address: str | None = None  # ray: null = a local Ray started by the run; 'auto' or 'ray://host:10001'
    num_cpus: int = 0  # ray: CPUs of the local Ray (0 = all cores); ignored with an address
    cpus_per_task: float = 1.0  # ray: resources per training
    gpus_per_task: float = 0.0  # ray: GPUs per training
    max_retries: int = 3  # ray: re-runs of a training whose worker died


@dataclass
class EvalConfig:
    """``eval``: how a trained policy is scored, and the final re-training of the best reward."""

    episodes: int = 10  # evaluation episodes per trained policy (its fitness is their mean)
    # final re-training seeds; null = seed+1 .. seed+num_seeds (never the search's own seed)
    seeds: list[int] | None = None
    num_seeds: int = 3  # how many final seeds when eval.seeds is null
    baselines: bool = True  # also train the env's own reward and the sparse fitness (human-normalized score)


@dataclass
class EurekaConfig:
    """The whole configuration (``conf/config.yaml``); every key can be overridden on the command line."""

    task: TaskConfig = field(default_factory=TaskConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    iterations: int = 3  # design -> critic -> train -> analyze -> select rounds (at most)
    samples: int = 4  # candidates per iteration (Eureka's K)
    seed: int = 0  # seeds the designer, the environments and the training of every search candidate
    notes: list[str] = field(default_factory=list)  # notes for the designer, e.g. 'notes=["more forward speed"]'
    video: bool = True  # save candidates/<id>/rollout.mp4 of each iteration's best candidate
    video_steps: int = 300  # at most this many steps per video


def register() -> None:
    """Register the schema as ``eureka_schema`` (``conf/config.yaml`` lists it first in its defaults)."""
    ConfigStore.instance().store(name="eureka_schema", node=EurekaConfig)


register()


def typed(cfg: Any) -> EurekaConfig:
    """The composed config as one typed object (``OmegaConf.to_object`` into ``EurekaConfig``), made once at
    start-up; the code reads its typed attributes. A ``EurekaConfig`` is returned as it is."""
    if isinstance(cfg, EurekaConfig):
        return cfg
    if not (isinstance(cfg, DictConfig) and OmegaConf.get_type(cfg) is EurekaConfig):
        cfg = OmegaConf.merge(OmegaConf.structured(EurekaConfig), cfg)
    out = OmegaConf.to_object(cfg)
    assert isinstance(out, EurekaConfig)
    return out


def to_yaml(cfg: EurekaConfig) -> str:
    """``cfg`` as YAML, with ``llm.api_key`` redacted (for files of the run directory)."""
    if cfg.llm.api_key:
        cfg = replace(cfg, llm=replace(cfg.llm, api_key="***"))
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def final_seeds(cfg: EurekaConfig) -> list[int]:
    """The final re-training seeds: ``eval.seeds``, or ``seed+1 .. seed+eval.num_seeds``."""
    if cfg.eval.seeds is not None:
        return list(cfg.eval.seeds)
    return [cfg.seed + k for k in range(1, cfg.eval.num_seeds + 1)]


def _select(cfg: Any, key: str) -> Any:
    """``cfg.a.b`` for ``key`` ``"a.b"`` (a typed config or an OmegaConf one)."""
    return functools.reduce(getattr, key.split("."), cfg)


def sb3_class(algo: str) -> type:
    """The Stable-Baselines3 class of ``algo`` (one of ``ALGOS``: ``ppo`` -> ``PPO``)."""
    import stable_baselines3

    return getattr(stable_baselines3, algo.upper())


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value}: not a valid choice; valid choices: {', '.join(choices)}."
                          f"{did_you_mean(str(value), choices)}")


def _at_least(key: str, value: Any, low: float, what: str = "an integer") -> None:
    if value < low:
        raise ConfigError(f"{key}={value}: must be {what} >= {low:g}")


def _check_hyperparams(cfg: EurekaConfig) -> None:
    """``trainer.<algo>.*`` must be keyword arguments of the SB3 class (else every training would crash)."""
    algo = cfg.trainer.algo
    given = list(getattr(cfg.trainer, algo).keys())
    if not given:
        return
    import inspect

    cls = sb3_class(algo)
    valid = [p for p in inspect.signature(cls).parameters if p not in ("self", "policy", "env")]
    for key in given:
        if key not in valid:
            raise ConfigError(f"trainer.{algo}.{key}: not a keyword argument of SB3's {cls.__name__}."
                              f"{did_you_mean(str(key), valid)} (valid: see the {cls.__name__} documentation)")


def check_config(cfg: EurekaConfig) -> None:
    """Check the values a type cannot (choices, ranges, CUDA, a free port); raise ``ConfigError`` (one line)."""
    # the choice fields are Enums (Hydra refuses other values while composing); a config built in code may
    # still hold a plain string: the same check, the same message
    for key, choice in (("trainer.algo", Algo), ("trainer.device", Device), ("llm.provider", Provider),
                        ("loop.selection", Selection), ("feedback.mode", FeedbackMode),
                        ("executor.name", ExecutorName), ("loop.allocation", Allocation),
                        ("trainer.backend", Backend), ("trainer.sim", Sim)):
        _choice(key, _select(cfg, key), _values(choice))
    _check_hyperparams(cfg)
    for key in ("iterations", "samples", "loop.population", "llm.concurrency", "loop.islands", "loop.migration_every",
                "eval.episodes", "trainer.total_timesteps", "trainer.n_envs", "sandbox.workers", "eval.num_seeds"):
        _at_least(key, _select(cfg, key), 1)
    cc = cfg.loop.confirm
    if cc.seeds < 0 or cc.max_seeds < cc.seeds or not cc.rse >= 0:
        raise ConfigError(f"loop.confirm: seeds={cc.seeds}, max_seeds={cc.max_seeds}, rse={cc.rse:g}; valid: "
                          "0 <= seeds <= max_seeds and rse >= 0 (seeds=0: no confirmation)")
    if cfg.executor.max_workers < 0:
        raise ConfigError(f"executor.max_workers={cfg.executor.max_workers}: must be >= 0 (0 = one per core)")
    _at_least("executor.per_gpu", cfg.executor.per_gpu, 1)
    _at_least("trainer.gpu_num_envs", cfg.trainer.gpu_num_envs, 0)
    if cfg.eval.seeds is not None and len(cfg.eval.seeds) == 0:
        raise ConfigError("eval.seeds=[]: the final evaluation needs at least one seed, e.g. eval.seeds=[1,2,3] "
                          "(or eval.seeds=null for seed+1 .. seed+eval.num_seeds)")
    es = cfg.loop.early_stop
    if es.enabled and not (es.eta > 1 and 0 < es.min_fraction <= 1):
        raise ConfigError(f"loop.early_stop: eta={es.eta:g}, min_fraction={es.min_fraction:g}; valid: eta > 1 "
                          "and 0 < min_fraction <= 1")
    if cfg.trainer.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("trainer.device=cuda: torch sees no CUDA device; valid choices here: auto, cpu "
                              "(or install a CUDA build of torch)")


def check_action_space(cfg: EurekaConfig, action_space: Any) -> None:
    """SAC needs continuous (Box) actions: say so before any training (``ConfigError``, one line)."""
    import gymnasium as gym

    if cfg.trainer.algo == "sac" and not isinstance(action_space, gym.spaces.Box):
        raise ConfigError(f"trainer.algo=sac: SAC needs continuous (Box) actions but task '{cfg.task.name}' has "
                          f"{action_space} actions; valid choices for this task: ppo")
__all__ = ["ALGOS", "DEVICES", "Algo", "Allocation", "Backend", "Choice", "Device", "EurekaConfig", "ExecutorName",
           "FeedbackMode", "Provider", "Selection", "Sim", "check_action_space", "check_config", "final_seeds", "register",
           "sb3_class", "to_yaml", "typed"]
