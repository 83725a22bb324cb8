import pytest

from eureka import tasks
from eureka.analyze import Reflection
from eureka.critic.extract import extract_code
from eureka.critic.static import check_static
from eureka.llm import DesignRequest, OfflineDesigner, Parent
from eureka.llm.offline import genome_from_code, notes_from_code
from eureka.prompts import build_messages


def _request(task, n=4, it=0, parent=None, notes=()):
    return DesignRequest(task, build_messages(task), n=n, iteration=it, seed=0, parent=parent,
                         notes=list(notes))


def test_offline_answers_are_valid_code_for_every_task():
    for name in ("cartpole", "pendulum", "mountain_car", "acrobot"):
        task = tasks.make(name)
        answers = OfflineDesigner().propose(_request(task))
        assert len(answers) == 4
        codes = [extract_code(a.text) for a in answers]
        for code in codes:
            check_static(code, task.state_names)
        assert len(set(codes)) > 1, "samples differ"


def test_offline_is_deterministic_and_reads_the_reflection():
    task = tasks.make("cartpole")
    a = OfflineDesigner().propose(_request(task))
    b = OfflineDesigner().propose(_request(task))
    assert [x.text for x in a] == [x.text for x in b]
    parent_code = extract_code(a[0].text)
    names = [t.name for t in genome_from_code(parent_code)]
    reflection = Reflection(components={
        names[0]: {"mean": 100.0, "max": 100.0, "min": 90.0, "std_within": 1.0},
        names[1]: {"mean": 0.5, "max": 0.5, "min": 0.5, "std_within": 0.0},
        "alive": {"mean": 1.0, "max": 1.0, "min": 1.0, "std_within": 0.0}}, fitness_curve=[10, 20, 30])
    parent = Parent("p", parent_code, reflection=reflection)
    child = OfflineDesigner().propose(_request(task, n=1, it=1, parent=parent))[0]
    assert "scaled down dominating term" in child.text
    assert "constant term" in child.text
    before = {t.name: t.weight for t in genome_from_code(parent_code)}
    after = {t.name: t.weight for t in genome_from_code(extract_code(child.text))}
    assert after[names[0]] < before[names[0]] / 2.5


def test_human_notes_scale_matching_terms():
    task = tasks.make("cartpole")
    base = genome_from_code(extract_code(OfflineDesigner().propose(_request(task, n=1))[0].text))
    more = genome_from_code(extract_code(OfflineDesigner().propose(
        _request(task, n=1, notes=["more pole_angle please"]))[0].text))
    w0 = {t.name: t.weight for t in base}
    w1 = {t.name: t.weight for t in more}
    assert w1["pole_angle_near_target"] == 2 * w0["pole_angle_near_target"]


def test_a_note_changes_only_the_terms_it_names():
    """'less actions' on a half_cheetah parent whose reflection would also cut the velocity term: the child
    changes the action penalty and nothing else (the issue's child stood still after an 8x velocity cut)."""
    task = tasks.make("half_cheetah")
    parent_code = extract_code(OfflineDesigner().propose(_request(task, n=1))[0].text)
    before = {t.name: (t.kind, t.weight, t.scale) for t in genome_from_code(parent_code)}
    velocity = next(n for n in before if "x_velocity" in n)
    action = next(n for n in before if "actions" in n)
    reflection = Reflection(components={
        velocity: {"mean": 100.0, "max": 120.0, "min": 80.0, "std_within": 1.0},  # dominating: would be cut
        action: {"mean": -0.5, "max": -0.1, "min": -0.9, "std_within": 0.1},
        "alive": {"mean": 1.0, "max": 1.0, "min": 1.0, "std_within": 0.0}}, fitness_curve=[1, 1, 1])
    parent = Parent("p", parent_code, reflection=reflection)
    without = OfflineDesigner().propose(_request(task, n=1, it=1, parent=parent))[0]
    assert genome_from_code(extract_code(without.text))[0].weight != before[velocity][1]  # the control: cut
    children = OfflineDesigner().propose(_request(task, n=3, it=1, parent=parent, notes=["less actions"]))
    factors = []
    for child in children:
        after = {t.name: (t.kind, t.weight, t.scale) for t in genome_from_code(extract_code(child.text))}
        assert set(after) == set(before)
        assert all(after[n] == before[n] for n in before if n != action), (before, after)
        factors.append(before[action][1] / after[action][1])
        assert "no other change" in child.text
    assert factors == pytest.approx([2.0, 3.0, 1.5], rel=1e-3)  # the first child halves it; its siblings try other strengths


def test_a_note_acts_once_per_lineage():
    """The child's children get the usual mutations again, and the note is not applied a second time."""
    task = tasks.make("half_cheetah")
    parent_code = extract_code(OfflineDesigner().propose(_request(task, n=1))[0].text)
    child = OfflineDesigner().propose(_request(task, n=1, it=1, parent=Parent("p", parent_code),
                                               notes=["less actions"]))[0]
    child_code = extract_code(child.text)
    assert notes_from_code(child_code) == ["less actions"] and "no other change" in child.text
    check_static(child_code, task.state_names)  # the record is a comment: the critic sees the same code
    grandchild = OfflineDesigner().propose(_request(task, n=1, it=2, parent=Parent("c", child_code),
                                                    notes=["less actions"]))[0]
    assert "no other change" not in grandchild.text and "human note" not in grandchild.text
    assert notes_from_code(extract_code(grandchild.text)) == ["less actions"]
    run_notes = OfflineDesigner().propose(_request(task, n=1, notes=['more x_velocity "quoted"\nnext line']))[0]
    code = extract_code(run_notes.text)
    assert notes_from_code(code) == ['more x_velocity "quoted"\nnext line']
    check_static(code, task.state_names)
