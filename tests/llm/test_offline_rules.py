"""The offline designer's mutation rules: the objective's term stays (with its sign), mutants move, clean imports."""

from eureka import tasks
from eureka.analyze import Reflection
from eureka.critic.extract import extract_code
from eureka.llm import DesignRequest, OfflineDesigner, Parent
from eureka.llm.offline import genome_from_code, objective_term
from eureka.prompts import build_messages

TASKS = ("cartpole", "pendulum", "mountain_car", "acrobot", "hopper", "half_cheetah")


def _children(task, parent_code, reflection, n=8, seed=0, population=()):
    parent = Parent("p", parent_code, reflection=reflection)
    req = DesignRequest(task, build_messages(task), n=n, iteration=1, seed=seed, parent=parent,
                        population=list(population))
    return [extract_code(a.text) for a in OfflineDesigner(temperature=2.0).propose(req)]


def test_the_objective_term_is_never_dropped_nor_flipped():
    for name in TASKS:
        task = tasks.make(name)
        obj = objective_term(task)
        assert obj is not None
        first = [extract_code(a.text) for a in OfflineDesigner().propose(
            DesignRequest(task, build_messages(task), n=4, iteration=0, seed=0))]
        genome = genome_from_code(first[0])
        # the reflection says the objective's term never moved and fitness stagnated: the rules that drop
        # constant terms and change transforms both aim at it
        comps = {t.name: {"mean": 0.0, "max": 0.0, "min": 0.0, "std_within": 0.0} for t in genome}
        refl = Reflection(components=comps, fitness_curve=[1.0, 1.0, 1.0])
        population = [Parent(f"m{k}", c) for k, c in enumerate(first)]
        for seed in range(6):
            for code in _children(task, first[0], refl, seed=seed, population=population):
                terms = [t for t in genome_from_code(code) if t.name == obj.name]
                assert terms, f"{name}: the objective's term '{obj.name}' was dropped"
                assert terms[0].weight > 0 and terms[0].sign == obj.sign, f"{name}: its sign flipped"


def test_a_mutant_never_rewrites_its_parent_exactly():
    import numpy as np

    from eureka.llm.offline import CodeWriter, Mutator

    task = tasks.make("cartpole")
    parent = extract_code(OfflineDesigner().propose(
        DesignRequest(task, build_messages(task), n=1, iteration=0, seed=0))[0].text)
    genome, writer = genome_from_code(parent), CodeWriter(task)
    same = Mutator(task, np.random.default_rng(0)).moved([*genome], genome, writer)
    assert writer.code(same) != writer.code(genome), "an unchanged mutant is perturbed"
    for seed in range(10):
        for code in _children(task, parent, Reflection(), n=4, seed=seed):
            assert code != parent


def test_no_import_line_twice_after_the_critic_header():
    for name in TASKS:
        task = tasks.make(name)
        for a in OfflineDesigner().propose(DesignRequest(task, build_messages(task), n=3, iteration=0, seed=1)):
            lines = [ln for ln in extract_code(a.text).splitlines() if ln.startswith(("import ", "from "))]
            assert len(lines) == len(set(lines)), lines
            assert sum(ln.startswith("from typing import") for ln in lines) == 1, lines


def test_no_mutant_pulls_what_the_objective_maximizes_back_to_zero():
    """hopper maximizes x_velocity: no child adds a near-zero term on it, on qvel (which holds it, m/s), or on
    x_position (its integral, m); terms on other quantities (torso_angle, rad) still come from the pool."""
    banned = {"hopper": {"x_velocity", "qvel", "x_position", "z_velocity", "qpos", "torso_height"},
              "half_cheetah": {"x_velocity", "qvel", "x_position", "qpos"},
              "mountain_car": {"position", "velocity"}}
    for name, vars_ in banned.items():
        task = tasks.make(name)
        first = [extract_code(a.text) for a in OfflineDesigner(temperature=2.0).propose(
            DesignRequest(task, build_messages(task), n=8, iteration=0, seed=3))]
        added: set[str] = set()
        for seed in range(12):
            for code in [*first, *_children(task, first[0], Reflection(), seed=seed)]:
                for t in genome_from_code(code):
                    if t.kind == "tolerance" and t.name.endswith("_near_zero"):
                        added.add(t.var)
        assert not added & vars_, f"{name}: near-zero terms on {sorted(added & vars_)}"
        if name == "hopper":
            assert added, "the pool still adds near-zero terms on other quantities"


def test_early_termination_in_the_reflection_makes_every_child_non_negative_per_step():
    """The hazard example: a negative-everywhere seed reward whose policy dives into the ground. Told so by the
    reflection (the early_termination signal), every child gets a positive alive bonus larger than the
    reward's negative mean and its negative-everywhere fuel penalty becomes a term in [0, 1]."""
    from pathlib import Path

    from eureka.analyze import analyze
    from eureka.train.result import Snapshot

    task = tasks.make(str(Path(__file__).resolve().parents[2] / "envs" / "examples" / "hazard.py"))
    parent = extract_code(OfflineDesigner().propose(
        DesignRequest(task, build_messages(task), n=1, iteration=0, seed=0))[0].text)
    genome = genome_from_code(parent)
    assert {t.kind for t in genome} == {"abs_error"}  # negative everywhere
    snaps = [Snapshot(i, 5, 0.0, n, {t.name: {"mean": -1.2, "std": 0.1, "min": -2.0, "max": -0.5} for t in genome})
             for i, n in enumerate([71.0, 40.0, 12.0, 6.0, 5.6])]
    reflection = analyze(snaps, 0.0)
    assert reflection.has("early_termination")
    children = _children(task, parent, reflection, n=4)
    for code in children:
        terms = {t.name: t for t in genome_from_code(code)}
        alive = [t for t in terms.values() if t.kind == "alive"]
        assert alive and alive[0].weight >= 2 * 2.4, code  # outweighs the negative mean per step (-2.4)
        # no negative-everywhere penalty left but the objective's own term
        assert all(t.kind != "abs_error" for n, t in terms.items() if n != "beacon_offset_penalty"), code
    answer = OfflineDesigner().propose(DesignRequest(task, build_messages(task), n=1, iteration=1, seed=0,
                                                     parent=Parent("p", parent, reflection=reflection)))[0].text
    assert "early termination: added a positive alive bonus" in answer


def test_the_first_iteration_weighs_a_maximized_objective_against_the_alive_bonus_on_a_ladder():
    from eureka.llm.offline import OBJECTIVE_LADDER

    def weights(name: str, n: int = 8) -> list[dict[str, float]]:
        task = tasks.make(name)
        answers = OfflineDesigner().propose(DesignRequest(task, build_messages(task), n=n, iteration=0, seed=3))
        return [{t.name: t.weight for t in genome_from_code(extract_code(a.text))} for a in answers]

    # hopper pays for staying alive and asks to maximize x_velocity: sample k's objective weight is the ladder's
    # factor times the seed's weight (times the perturbation's lognormal factor, sigma 0.3)
    hopper = weights("hopper")
    obj = objective_term(tasks.make("hopper")).name
    ratios = [w[obj] / OBJECTIVE_LADDER[k % len(OBJECTIVE_LADDER)] for k, w in enumerate(hopper)]
    assert hopper[0][obj] == 1.0, "sample 0 is the hints' seed, untouched"
    assert all(0.3 < r < 3.0 for r in ratios), ratios
    assert max(w[obj] for w in hopper) / min(w[obj] for w in hopper) > 4
    # no alive bonus (half_cheetah), or an objective that is a target, not a maximum (cartpole): only the
    # perturbation moves the objective's weight
    for name in ("half_cheetah", "cartpole", "mountain_car"):
        o = objective_term(tasks.make(name)).name
        ws = [w[o] for w in weights(name) if o in w]
        assert max(ws) / min(ws) < 4, (name, ws)
