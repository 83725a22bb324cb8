from eureka.analyze import analyze
from eureka.train.result import Snapshot


def _snap(step, comps, fitness):
    return Snapshot(step, fitness=fitness, episode_length=fitness,
                    components={k: {"mean": m, "std": s, "min": m, "max": m} for k, (m, s) in comps.items()})


def test_reflection_lists_components_and_tips():
    snaps = [_snap(i * 100, {"upright": (0.5 + 0.05 * i, 0.1), "const": (1.0, 0.0), "big": (50.0, 1.0),
                             "tiny": (0.0001 * (i + 1), 0.0001)}, 10.0 + i) for i in range(10)]
    r = analyze(snaps, fitness=42.0)
    assert "upright: [0.50, 0.55" in r.text and "Max: 0.95" in r.text
    assert "final task fitness of the trained policy (evaluation): 42.000" in r.text
    assert any("'const' is constant" in t for t in r.tips)
    assert any("'big' dominates" in t for t in r.tips)
    assert any("'tiny' is tiny" in t for t in r.tips)
    assert r.fitness_curve == [10.0 + i for i in range(10)]


def test_stagnating_fitness_tip():
    snaps = [_snap(i, {"a": (1.0 + i, 0.1)}, 5.0) for i in range(5)]
    assert any("never changed" in t for t in analyze(snaps, 5.0).tips)


def test_correlation_with_the_env_reward_and_the_share_that_ran():
    snaps = [_snap(i, {"a": (1.0 + i, 0.1)}, 5.0 + i) for i in range(5)]
    r = analyze(snaps, 9.0, env_corr=0.834, ran=(3, 4))
    assert "correlation of this reward with the environment's own reward over the training rollouts: 0.83" in r.text
    assert "that ran (trained without an error): 3 of 4" in r.text
    assert r.to_dict()["env_reward_corr"] == 0.834 and r.to_dict()["ran"] == [3, 4]
    assert any("anti-correlated" in t for t in analyze(snaps, 9.0, env_corr=-0.5).tips)
    assert not any("anti-correlated" in t for t in r.tips)


def test_the_wrapper_measures_the_correlation_with_the_env_reward():
    """Real Pendulum (env reward -(theta^2 + 0.1 thdot^2 + 0.001 u^2)): -theta^2 correlates, +theta^2 anti-correlates."""
    import numpy as np
    import torch

    from eureka import tasks
    from eureka.reward.vecenv import make_vec_env
    from eureka.reward.wrapper import RewardWrapper

    task = tasks.make("pendulum")
    rng = np.random.default_rng(0)

    def run(sign):
        def fn(theta):
            r = sign * theta ** 2
            return r, {"r": r}

        venv = make_vec_env(task, 4, 0)
        w = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=["theta"])
        w.reset()
        for _ in range(100):
            w.step_async(rng.uniform(-2, 2, (4, 1)).astype(np.float32))
            w.step_wait()
        return w.env_correlation()

    assert run(-1.0) > 0.8 and run(1.0) < -0.8
    const = RewardWrapper(make_vec_env(task, 2, 0), task, mode="candidate",
                          reward_fn=lambda theta: (torch.ones_like(theta), {}), params=["theta"])
    assert const.env_correlation() is None  # nothing scored yet
