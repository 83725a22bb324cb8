import ast

import pytest

from eureka.critic.extract import extract_code
from eureka.errors import RewardSyntaxError

REWARD = '''import torch
from typing import Dict, Tuple

@torch.jit.script
def compute_reward(pole_angle: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    upright = torch.exp(-pole_angle ** 2 / 0.1)
    return upright, {"upright": upright}
'''


def _defs(code: str) -> list[str]:
    return [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]


def test_prose_and_one_block():
    text = f"Here is my reward.\n\n```python\n{REWARD}```\n\nThe upright term rewards balance."
    code = extract_code(text)
    assert "@torch.jit.script" in code
    assert _defs(code) == ["compute_reward"]


def test_usage_snippet_before_the_real_block_is_not_chosen():
    text = ("Usage:\n```python\nreward, parts = compute_reward(pole_angle=obs[:, 2])\n```\n"
            f"And the function:\n```python\n{REWARD}```\n")
    code = extract_code(text)
    assert "def compute_reward" in code
    assert "obs[:, 2]" not in code


def test_last_defining_block_wins_and_helpers_from_other_blocks_are_added():
    helper = "```python\ndef bonus(x: torch.Tensor) -> torch.Tensor:\n    return x * 0.0 + 1.0\n```\n"
    first = "```python\ndef compute_reward(pole_angle):\n    return pole_angle\n```\n"
    second = ("```python\ndef compute_reward(pole_angle):\n    b = bonus(pole_angle)\n    return b, {'b': b}\n```")
    code = extract_code("Draft:\n" + first + "Helper:\n" + helper + "Final:\n" + second)
    assert _defs(code) == ["bonus", "compute_reward"]
    assert "b = bonus(pole_angle)" in code


def test_no_fences():
    text = "Sure! Here it is:\n\nimport torch\n\ndef compute_reward(pole_angle):\n    r = -pole_angle.abs()\n" \
           "    return r, {'r': r}\n\nThis penalises the angle."
    code = extract_code(text)
    assert "def compute_reward" in code and "penalises" not in code


def test_top_level_usage_and_main_block_are_dropped():
    text = f"```python\n{REWARD}\nprint(compute_reward(torch.zeros(3)))\nif __name__ == '__main__':\n    pass\n```"
    code = extract_code(text)
    assert "print(" not in code and "__main__" not in code


def test_tilde_fence_and_unclosed_fence():
    assert "def compute_reward" in extract_code(f"~~~python\n{REWARD}~~~")
    assert "def compute_reward" in extract_code(f"```python\n{REWARD}")


@pytest.mark.parametrize("text", ["", "   ", "I cannot help with that.", "```python\nx = 1\n```"])
def test_no_code_is_a_syntax_error(text):
    with pytest.raises(RewardSyntaxError):
        extract_code(text)


def test_syntax_error_names_the_line():
    with pytest.raises(RewardSyntaxError, match="line 2"):
        extract_code("```python\ndef compute_reward(pole_angle):\n    return (pole_angle\n```")


def test_header_imports_added_once():
    code = extract_code(f"```python\n{REWARD}```")
    assert code.count("import torch\n") == 1
    assert "import math" in code
