from eureka.llm.offline import CodeWriter, seed_genome


def test_offline_seed_passes_the_critic(critic, cartpole):
    verdict = critic.check_code(CodeWriter(cartpole).code(seed_genome(cartpole)))
    assert verdict.ok, verdict.message
    assert set(verdict.components) == {"pole_angle_near_target", "cart_position_near_target", "alive"}


def test_rejections_are_classified_with_feedback(critic):
    cases = {
        "NonFiniteReward": "import torch\ndef compute_reward(pole_angle):\n    r = pole_angle / 0.0\n    return r, {'r': r}\n",
        "RewardShapeError": "import torch\ndef compute_reward(pole_angle):\n    return pole_angle.sum(), {}\n",
        "RewardRuntimeError": "import torch\ndef compute_reward(pole_angle):\n    return pole_angle[:, 3], {}\n",
        "RewardTimeout": "def compute_reward(pole_angle):\n    while True:\n        pass\n    return pole_angle\n",
    }
    for expected, code in cases.items():
        verdict = critic.check_code(code)
        assert verdict.error_class == expected, (expected, verdict.message)
        assert expected in verdict.feedback() and verdict.hint
