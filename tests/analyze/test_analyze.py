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
