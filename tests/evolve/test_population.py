from dataclasses import dataclass

import pytest

from eureka.evolve.population import Population, rank


@dataclass(eq=False)
class C:
    id: str
    fitness: float | None
    preference: float | None = None
    island: int = 0
    status: str = "ok"


def test_rank_modes():
    cs = [C("a", 1.0, 2.0), C("b", 3.0, -1.0), C("c", 2.0, 3.0), C("d", 0.5, None)]
    assert [c.id for c in rank(cs, "fitness")] == ["b", "c", "a", "d"]
    assert [c.id for c in rank(cs, "preference")] == ["c", "a", "b", "d"]
    assert [c.id for c in rank(cs, "mixed")][0] == "c"


def test_population_keeps_the_best_and_round_robins_parents():
    pop = Population(size=2)
    assert pop.parent_for(0) is None
    a, b, c = C("a", 1.0), C("b", 3.0), C("c", 2.0)
    pop.update([a, b, c, C("x", None, status="failed")], 0)
    assert [m.id for m in pop.all()] == ["b", "c"]
    assert [pop.parent_for(k).id for k in range(4)] == ["b", "c", "b", "c"]


def test_islands_evolve_apart_and_migrate():
    pop = Population(size=4, islands=2, migration_every=1)
    cs = [C("i0a", 5.0, island=0), C("i0b", 1.0, island=0), C("i1a", 2.0, island=1), C("i1b", 3.0, island=1)]
    pop.update(cs, 0)
    assert [m.id for m in pop.members[0]] == ["i0a", "i1b"]  # and island 1's best to island 0
    assert [m.id for m in pop.members[1]] == ["i0a", "i1b"]  # island 0's best migrated to island 1
    assert pop.parent_for(0).id == "i0a" and pop.parent_for(3).id == "i1b"


def test_unknown_selection():
    with pytest.raises(ValueError, match="fitness, preference, mixed"):
        Population(selection="vibes")


def test_a_person_who_reverses_fitness_steers_mixed_selection():
    """Preferences that reverse fitness tie every mean rank: the tie goes to the person, not to fitness."""
    cs = [C("hi", 3.0, -1.0), C("mid", 2.0, 0.0), C("lo", 1.0, 1.0)]
    assert [c.id for c in rank(cs, "mixed")] == ["lo", "mid", "hi"]
    pop = Population(size=2, selection="mixed")
    pop.prefer("lo")
    pop.update(cs, 0)
    assert [m.id for m in pop.all()] == ["lo", "mid"] and pop.parent_for(0).id == "lo" and pop.best().id == "lo"


def test_the_top_choice_survives_and_parents_even_against_the_ranking():
    cs = [C("a", 3.0, 0.5), C("b", 2.0, 0.4), C("c", 0.1, 0.3)]
    pop = Population(size=2, selection="mixed")
    pop.update(cs, 0)
    assert "c" not in [m.id for m in pop.all()]  # by rank, c is out
    pop = Population(size=2, selection="mixed")
    pop.prefer("c")  # ... but it was this session's top choice
    pop.update(cs, 0)
    assert [m.id for m in pop.all()][0] == "c" and pop.parent_for(0).id == "c" and len(pop.all()) == 2
    pop.prefer(None)  # a session without a decisive answer: the ranking decides again (c is already kept)
    assert pop.best().id == "a"
    fit = Population(size=2, selection="fitness")
    fit.prefer("c")  # under selection=fitness choices do not steer
    fit.update(cs, 0)
    assert [m.id for m in fit.all()] == ["a", "b"]
