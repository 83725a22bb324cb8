import pytest

from eureka.critic.static import check_static
from eureka.errors import ForbiddenCode, RewardSignatureError

NAMES = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity", "actions"]


@pytest.mark.parametrize("code", [
    "import os\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "from subprocess import run\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "import torch.utils\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    open('/tmp/x', 'w')\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    return eval('pole_angle')\n",
    "def compute_reward(pole_angle):\n    return pole_angle.__class__\n",
    "def compute_reward(pole_angle):\n    return getattr(pole_angle, 'abs')()\n",
    "import torch\ndef compute_reward(pole_angle):\n    torch.save(pole_angle, 'x.pt')\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    return __builtins__\n",
    "def compute_reward(pole_angle):\n    x = '__class__'\n    return pole_angle\n",
])
def test_forbidden_code(code):
    with pytest.raises(ForbiddenCode):
        check_static(code, NAMES)


def test_unknown_state_name_lists_valid_names_and_closest():
    with pytest.raises(RewardSignatureError) as info:
        check_static("def compute_reward(pole_angel):\n    return pole_angel\n", NAMES)
    assert "pole_angle" in info.value.message and "Closest match: 'pole_angle'" in info.value.message


@pytest.mark.parametrize("code", [
    "def reward(pole_angle):\n    return pole_angle\n",
    "def compute_reward(*args):\n    return args[0]\n",
    "def compute_reward():\n    return 1\n",
    "def compute_reward(pole_angle):\n    x = pole_angle\n",
])
def test_signature_errors(code):
    with pytest.raises(RewardSignatureError):
        check_static(code, NAMES)


def test_valid_reward_passes_and_defaulted_extra_params_are_allowed():
    code = "import torch\nimport math\ndef compute_reward(pole_angle, temp: float = 0.1):\n" \
           "    r = torch.exp(-pole_angle ** 2 / temp) * math.pi\n    return r, {'r': r}\n"
    assert check_static(code, NAMES).name == "compute_reward"
