"""The verdict: a policy's fitness, measured by a process that never loads candidate code.

A training saves its policy's weights as safetensors (``policy.safetensors``: tensors only, no
code) and its observation normalizer as plain arrays (``normalizer.npz``, read without
pickles). The evaluator builds a fresh SB3 policy of the same architecture, loads those
tensors into it (every name and shape must match), and runs the deterministic policy for the
task's evaluation episodes in fresh envs, scored by the task's fitness. Its mean is the only
``fitness`` that ranks, selects, stops a rung and is reported; what the training process said
about itself is kept as ``reported_*`` and never ranks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from eureka import tasks
from eureka.errors import TrainingCrash
from eureka.reward.vecenv import make_vec_env
from eureka.reward.wrapper import RewardWrapper
from eureka.store.safe import read_bytes

WEIGHTS = "policy.safetensors"
NORMALIZER = "normalizer.npz"
SETTINGS = "policy.json"  # the hyperparameters beside the weights (for eureka-render's architecture)
MAX_WEIGHTS_BYTES = 512 * 1024 * 1024
MAX_NORMALIZER_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024  # a safetensors header (JSON) longer than this is refused before it is parsed
MAX_TENSORS = 256  # more tensors than any policy here has
FLOAT_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}  # what a policy's weights may be saved as
NORMALIZER_KEYS = ("mean", "var", "count", "clip_obs", "epsilon")
MAX_NORMALIZER_ELEMENTS = 1 << 16  # per array, when the observation's shape is not given


def save_policy(policy: torch.nn.Module, obs_rms, out_dir: Path, clip_obs: float = 10.0,
                epsilon: float = 1e-8, algo: str = "ppo", hyperparams: dict | None = None) -> None:
    """Write the policy's weights (safetensors), the normalizer's statistics (plain arrays) and its settings."""
    import json

    from safetensors.torch import save

    (out_dir / SETTINGS).write_text(json.dumps({"algo": algo, "hyperparams": hyperparams or {}}, default=str))
    state = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}  # own storage each (safetensors)
    (out_dir / WEIGHTS).write_bytes(save(state))  # bytes first: the path is relative to a jail's own dir
    if obs_rms is not None:
        np.savez(out_dir / NORMALIZER, mean=np.asarray(obs_rms.mean, dtype=np.float64),
                 var=np.asarray(obs_rms.var, dtype=np.float64), count=np.asarray(obs_rms.count, dtype=np.float64),
                 clip_obs=np.asarray(clip_obs, dtype=np.float64), epsilon=np.asarray(epsilon, dtype=np.float64))


def read_limited(path: Path, limit: int) -> bytes:
    """A regular file's bytes (no link followed, at most ``limit``); a hostile file is a ``TrainingCrash``."""
    try:
        return read_bytes(path, limit)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise TrainingCrash(f"{path.name}: {exc}") from None


def build_policy(algo: str, observation_space, action_space, hyperparams: dict) -> torch.nn.Module:
    """A fresh policy of the architecture a training with these settings builds (no replay buffer, no env)."""
    from stable_baselines3 import PPO, SAC

    from eureka.train.sb3_args import build_kwargs

    if hyperparams.get("backend") == "vector":
        from eureka.train.vector.policy import build

        try:
            return build(observation_space, action_space, hyperparams)
        except (TypeError, ValueError) as exc:
            raise TrainingCrash(str(exc)) from None

    kwargs = build_kwargs(hyperparams)
    policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
    policy_kwargs["use_sde"] = bool(kwargs.get("use_sde", False))  # as SB3 passes it to the policy
    if algo == "ppo":
        cls = PPO.policy_aliases["MlpPolicy"]
    elif algo == "sac":
        cls = SAC.policy_aliases["MlpPolicy"]
    else:
        raise TrainingCrash(f"unknown algorithm '{algo}'")
    return cls(observation_space, action_space, lambda _progress: 0.0, **policy_kwargs)


def read_saved(out_dir: str | Path) -> dict[str, bytes | None]:
    """The bytes of what a training saved for the evaluator (weights, normalizer, settings), bounded, no links."""
    out: dict[str, bytes | None] = {}
    for name, limit in ((WEIGHTS, MAX_WEIGHTS_BYTES), (NORMALIZER, MAX_NORMALIZER_BYTES), (SETTINGS, 64 * 1024)):
        try:
            out[name] = read_limited(Path(out_dir) / name, limit)
        except FileNotFoundError:
            out[name] = None
    return out


def policy_from_bytes(algo: str, observation_space, action_space, hyperparams: dict,
                      weights: bytes | None) -> torch.nn.Module:
    """Saved weights in a fresh policy; weights that are missing, malformed or do not fit are an error."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if weights is None:
        raise TrainingCrash("the training saved no policy weights (policy.safetensors)")
    policy = build_policy(algo, observation_space, action_space, hyperparams)
    own = policy.state_dict()
    check_safetensors_header(weights, {k: tuple(v.shape) for k, v in own.items()})
    try:
        state = load(weights)
    except (SafetensorError, ValueError, OSError) as exc:
        raise TrainingCrash(f"policy.safetensors is unreadable: {exc}") from None
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise TrainingCrash("policy.safetensors does not match the policy this training builds")
    state = {k: v.to(own[k].dtype) for k, v in state.items()}  # finiteness is checked in the dtype used
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise TrainingCrash("policy.safetensors holds non-finite weights (after conversion to the policy's dtype)")
    policy.load_state_dict(state, strict=True)
    policy.set_training_mode(False)  # type: ignore[operator]  # SB3's policies and ActorCritic both have it
    return policy


def check_safetensors_header(weights: bytes, shapes: dict[str, tuple[int, ...]]) -> None:
    """Refuse a safetensors file before parsing it in full: its header's length (the 8-byte prefix) at most
    ``MAX_HEADER_BYTES``, then exactly the policy's tensors, each a float of the policy's shape, in the file."""
    import json
    import math

    if len(weights) < 8:
        raise TrainingCrash("policy.safetensors is unreadable: shorter than its header")
    size = int.from_bytes(weights[:8], "little")
    if size > MAX_HEADER_BYTES or 8 + size > len(weights):
        raise TrainingCrash(f"policy.safetensors: a header of {size} bytes (at most {MAX_HEADER_BYTES} are read)")
    try:
        header = json.loads(weights[8:8 + size])
    except ValueError as exc:
        raise TrainingCrash(f"policy.safetensors is unreadable: {exc}") from None
    if not isinstance(header, dict):
        raise TrainingCrash("policy.safetensors is unreadable: its header is not a table")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS or set(header) != set(shapes):
        raise TrainingCrash(f"policy.safetensors does not match the policy this training builds "
                            f"({len(header)} tensors, {len(shapes)} expected)")
    data = len(weights) - 8 - size
    for name, info in header.items():
        ok = isinstance(info, dict) and info.get("dtype") in FLOAT_DTYPES and info.get("shape") == list(shapes[name])
        offsets = info.get("data_offsets") if ok else None
        if not (ok and isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data
                and offsets[1] - offsets[0] == math.prod(shapes[name]) * FLOAT_DTYPES[info["dtype"]]):
            raise TrainingCrash(f"policy.safetensors: tensor '{str(name)[:64]}' is not a float of the policy's shape")


def _npy_headers(zf: zipfile.ZipFile, obs_shape: tuple[int, ...] | None) -> None:
    """Check each array's declared dtype (a float) and shape (what the observation needs) from its npy header,
    and the bytes it would take, before any array is read (a compressed array could be GBs widened)."""
    if len(zf.infolist()) > 2 * len(NORMALIZER_KEYS):
        raise TrainingCrash("normalizer.npz holds more arrays than a normalizer has")
    members = {i.filename: i for i in zf.infolist()}
    for key in NORMALIZER_KEYS:
        info = members.get(key + ".npy")
        if info is None:
            raise TrainingCrash(f"normalizer.npz is unreadable: no array '{key}'")
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise TrainingCrash(f"normalizer.npz: array '{key}' has an npy format {version} this does not read")
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise TrainingCrash(f"normalizer.npz: array '{key}' is {dtype}, not a float")
        if key in ("mean", "var"):
            fits = shape == tuple(obs_shape) if obs_shape is not None else                 len(shape) <= 2 and int(np.prod(shape)) <= MAX_NORMALIZER_ELEMENTS
        else:
            fits = int(np.prod(shape)) == 1 and len(shape) <= 1
        if not fits:
            want = f"{tuple(obs_shape)}" if key in ("mean", "var") and obs_shape is not None else "its size"
            raise TrainingCrash(f"normalizer.npz: array '{key}' has shape {shape}, not {want}")
        if info.file_size > int(np.prod(shape)) * dtype.itemsize + 4096:  # header included
            raise TrainingCrash(f"normalizer.npz: array '{key}' holds more bytes than its shape declares")


def normalizer_from_bytes(data: bytes | None, obs_shape: tuple[int, ...] | None = None) -> dict | None:
    """The observation normalizer's arrays (``None`` when the training used none); read without pickles.

    Every array's declared dtype and shape (``obs_shape`` for the mean and variance) are checked from
    its npy header before it is read, so no file makes this allocate more than the task's policy needs.
    """
    import io

    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _npy_headers(zf, obs_shape)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            out = {k: np.asarray(z[k], dtype=np.float64) for k in NORMALIZER_KEYS}
        out.update({k: out[k].reshape(()) for k in ("count", "clip_obs", "epsilon")})
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise TrainingCrash(f"normalizer.npz is unreadable: {exc}") from None
    if not all(np.isfinite(v).all() for v in out.values()) or (out["var"] < 0).any() \
            or not (out["var"] + out["epsilon"] > 0).all():
        raise TrainingCrash("normalizer.npz holds invalid statistics")
    return out


def settings_from_bytes(data: bytes | None) -> dict:
    """The hyperparameters a training saved beside its weights (architecture only matters; may be forged:
    a forged one only makes the weights fail to load)."""
    import json

    if data is None:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    hp = value.get("hyperparams") if isinstance(value, dict) else None
    if not isinstance(hp, dict):
        return {}
    if hp.get("backend") == "vector":  # the vector backend's architecture (checked again when it is built)
        from eureka.train.vector.policy import ARCH_KEYS

        return {"backend": "vector", **{k: hp[k] for k in ARCH_KEYS if k in hp}}
    keep = {k: hp[k] for k in ("policy_kwargs", "use_sde") if k in hp}
    pk = keep.get("policy_kwargs")
    if pk is not None and not isinstance(pk, dict):
        keep.pop("policy_kwargs")
    elif isinstance(pk, dict):
        from eureka.train.sb3_args import ACTIVATIONS

        act = pk.get("activation_fn")
        keep["policy_kwargs"] = {k: v for k, v in pk.items() if k in ("net_arch", "activation_fn", "log_std_init",
                                                                         "ortho_init", "squash_output", "n_critics")
                                 and (k != "activation_fn" or act in ACTIVATIONS)}
    return keep


def evaluate_policy(policy, task, episodes: int, seed: int, normalizer: dict | None = None,
                    device: str = "cpu") -> tuple[list[float], list[int]]:
    """Run the deterministic policy for ``episodes`` episodes in fresh envs; per-episode fitness and lengths."""
    n = max(1, min(episodes, 8))
    venv = make_vec_env(task, n, seed + 10_000)
    wrapper = RewardWrapper(venv, task, mode="env", device=device, info_components=False)
    quota = np.array([(episodes + i) // n for i in range(n)])
    counts = np.zeros(n, dtype=int)
    fitness: list[float] = []
    lengths: list[int] = []

    def observe(obs: np.ndarray) -> np.ndarray:
        if normalizer is None:
            return obs
        scaled = (obs - normalizer["mean"]) / np.sqrt(normalizer["var"] + normalizer["epsilon"])
        return np.clip(scaled, -normalizer["clip_obs"], normalizer["clip_obs"]).astype(np.float32)

    obs = wrapper.reset()
    while (counts < quota).any():
        before = len(wrapper.episode_fitness)
        with torch.no_grad():
            actions, _ = policy.predict(observe(obs), deterministic=True)
        obs, _, dones, _ = wrapper.step(actions)
        new_f = wrapper.episode_fitness[before:]
        new_l = wrapper.episode_lengths[before:]
        for j, i in enumerate(np.flatnonzero(dones)):
            if counts[i] < quota[i]:
                fitness.append(new_f[j])
                lengths.append(new_l[j])
                counts[i] += 1
    wrapper.close()
    return fitness, lengths


def evaluate_saved(task_name: str, algo: str, hyperparams: dict, out_dir: str | Path, episodes: int,
                   seed: int) -> tuple[list[float], list[int]]:
    """The verdict on a finished training: load its saved weights and normalizer, run, score."""
    torch.set_num_threads(1)
    task = tasks.make(task_name)
    probe = RewardWrapper(make_vec_env(task, 1, seed), task, mode="env", info_components=False)
    spaces = probe.observation_space, probe.action_space
    probe.close()
    saved = read_saved(out_dir)
    policy = policy_from_bytes(algo, *spaces, hyperparams, saved[WEIGHTS])
    return evaluate_policy(policy, task, episodes, seed, normalizer_from_bytes(saved[NORMALIZER], spaces[0].shape))
