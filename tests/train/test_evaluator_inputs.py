"""The trusted evaluator reads what a jail left as hostile input: sizes, dtypes and shapes checked first.

Each forged file ends the candidate as a classified ``TrainingCrash`` within a second, without the
evaluator allocating more than the task's policy needs.
"""

from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
import torch

from eureka.errors import TrainingCrash
from eureka.train.evaluator import build_policy, normalizer_from_bytes, policy_from_bytes

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def good_normalizer(**override) -> dict:
    arrays = {"mean": np.zeros(4), "var": np.ones(4), "count": np.asarray(10.0), "clip_obs": np.asarray(10.0),
              "epsilon": np.asarray(1e-8)}
    arrays.update(override)
    return arrays


def safetensors(tensors: dict[str, tuple[str, list[int], bytes]]) -> bytes:
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + blob


def crashes_fast(fn, *args) -> str:
    """The TrainingCrash message of ``fn(*args)``; it must come within a second and allocate under 64 MB."""
    tracemalloc.start()
    t0 = time.process_time()
    try:
        with pytest.raises(TrainingCrash) as err:
            fn(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.process_time() - t0 < 1.0
    assert peak < 64 * 2**20, peak
    return str(err.value)


def test_a_good_normalizer_is_read():
    out = normalizer_from_bytes(npz(**good_normalizer()), OBS.shape)
    assert out is not None and out["mean"].shape == (4,) and float(out["clip_obs"]) == 10.0


def test_a_compressed_normalizer_bomb_is_refused_before_it_is_read():
    bomb = npz(**good_normalizer(mean=np.zeros((4000, 4000), dtype=np.float32)))  # 64 MB in ~60 kB
    assert len(bomb) < 200_000
    assert "shape" in crashes_fast(normalizer_from_bytes, bomb, OBS.shape)
    assert "shape" in crashes_fast(normalizer_from_bytes, bomb, None)  # without the shape: a size bound


@pytest.mark.parametrize("forged", [{"var": np.ones(4, dtype=np.int64)}, {"count": np.zeros(3)},
                                    {"mean": np.ones(5)}, {"epsilon": np.asarray(0.0), "var": np.zeros(4)},
                                    {"clip_obs": np.asarray(np.inf)}])
def test_a_normalizer_of_the_wrong_dtype_shape_or_values_is_refused(forged):
    crashes_fast(normalizer_from_bytes, npz(**good_normalizer(**forged)), OBS.shape)


def _policy_tensors(dtype: str = "F32", fill: float = 0.0) -> dict:
    own = build_policy("ppo", OBS, ACT, {}).state_dict()
    np_dtype = {"F32": np.float32, "F64": np.float64}[dtype]
    return {k: (dtype, list(v.shape), np.full(tuple(v.shape), fill, dtype=np_dtype).tobytes()) for k, v in own.items()}


def test_good_weights_load():
    policy = policy_from_bytes("ppo", OBS, ACT, {}, safetensors(_policy_tensors()))
    assert all(float(v.abs().sum()) == 0 for v in policy.state_dict().values() if v.is_floating_point())


def test_a_huge_safetensors_header_is_refused_before_it_is_parsed():
    huge = {f"t{i}": ("F32", [1], b"\0\0\0\0") for i in range(30_000)}  # a ~2 MB header
    msg = crashes_fast(policy_from_bytes, "ppo", OBS, ACT, {}, safetensors(huge))
    assert "header" in msg
    prefix = struct.pack("<Q", 18 * 2**20) + b"{" + b" " * 100  # a header that says it is 18 MB
    assert "header" in crashes_fast(policy_from_bytes, "ppo", OBS, ACT, {}, prefix)


def test_many_small_tensors_are_refused():
    many = {f"t{i}": ("F32", [1], b"\0\0\0\0") for i in range(2_000)}  # under the header bound, too many tensors
    assert "tensors" in crashes_fast(policy_from_bytes, "ppo", OBS, ACT, {}, safetensors(many))


def test_weights_that_overflow_in_the_policy_dtype_are_refused():
    assert torch.float32 == build_policy("ppo", OBS, ACT, {}).state_dict()["log_std"].dtype
    msg = crashes_fast(policy_from_bytes, "ppo", OBS, ACT, {}, safetensors(_policy_tensors("F64", 1e300)))
    assert "non-finite" in msg


def test_a_tensor_of_another_dtype_or_shape_is_refused():
    tensors = _policy_tensors()
    name = next(iter(tensors))
    tensors[name] = ("I64", tensors[name][1], b"\0" * (len(tensors[name][2]) * 2))
    crashes_fast(policy_from_bytes, "ppo", OBS, ACT, {}, safetensors(tensors))
