"""Eureka-style ``@torch.jit.script`` rewards load and run eagerly: no deprecation warning, no TorchScript needed."""

import warnings

import pytest
import torch

from eureka.errors import RewardRuntimeError
from eureka.reward.compiled import call_reward, load_reward, strip_torchscript

SCRIPTED = ("import torch\nfrom typing import Dict, Tuple\n\n\n@torch.jit.script\n"
            "def compute_reward(pole_angle: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:\n"
            "    upright = torch.exp(-pole_angle ** 2 / 0.1)\n"
            "    return upright, {'upright': upright}\n")


def _load(tmp_path, code):
    path = tmp_path / "reward.py"
    path.write_text(code)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn, params = load_reward(path, trusted=True)
        reward, comps = call_reward(fn, params, {"pole_angle": torch.linspace(-0.2, 0.2, 256)}, path)
    assert not [w for w in caught if "jit" in str(w.message)], [str(w.message) for w in caught]
    return fn, reward, comps


def test_a_scripted_reward_runs_eagerly_without_a_warning(tmp_path):
    fn, reward, comps = _load(tmp_path, SCRIPTED)
    assert not isinstance(fn, torch.jit.ScriptFunction) and fn.__name__ == "compute_reward"
    assert reward.shape == (256,) and set(comps) == {"upright"}
    assert reward.max().item() == pytest.approx(1.0, abs=1e-3)


def test_other_spellings_of_the_decorator_and_explicit_calls(tmp_path):
    code = SCRIPTED.replace("@torch.jit.script\n", "@jit.script\n").replace("import torch\n",
                                                                            "import torch\nfrom torch import jit\n")
    fn, _, _ = _load(tmp_path, code)
    assert not isinstance(fn, torch.jit.ScriptFunction)
    explicit = SCRIPTED.replace("@torch.jit.script\n", "") + "\ncompute_reward = torch.jit.script(compute_reward)\n"
    _load(tmp_path, explicit)  # compiled by the reward itself: still no warning shown


def test_rewards_load_when_torchscript_is_gone(tmp_path, monkeypatch):
    monkeypatch.delattr(torch.jit, "script")
    _, reward, _ = _load(tmp_path, SCRIPTED)
    assert reward.shape == (256,)


def test_errors_keep_the_line_of_the_file(tmp_path):
    code = SCRIPTED.replace("    return upright", "    upright = upright[:, 3]\n    return upright")
    path = tmp_path / "reward.py"
    path.write_text(code)
    fn, params = load_reward(path, trusted=True)
    with pytest.raises(RewardRuntimeError) as err:
        call_reward(fn, params, {"pole_angle": torch.zeros(8)}, path)
    assert err.value.line == 8 and "upright[:, 3]" in err.value.message


def test_strip_keeps_other_decorators_and_lines():
    code = "import functools\n\n@functools.lru_cache\n@torch.jit.script\ndef f(x):\n    return x\n"
    tree = strip_torchscript(code)
    func = tree.body[1]
    assert [d.attr for d in func.decorator_list] == ["lru_cache"] and func.body[0].lineno == 6
