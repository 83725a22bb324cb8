"""The preference round: pairs not asked twice, pairs asked again on purpose, the end-of-session line."""

from types import SimpleNamespace

from omegaconf import OmegaConf

from eureka.config import typed
from eureka.prefer import PreferenceLog, PreferenceRound, ScriptedTeacher, choose_pairs, run_round
from eureka.prefer.round import note_hint, revision, selection_text


class Store:
    def __init__(self, root):
        self.root = root

    def candidate_dir(self, cid):
        return self.root / cid

    def event(self, *a, **k):
        pass


class Quiet:
    def phase(self, text):
        pass

    def message(self, text):
        pass

    def paused(self):
        import contextlib

        return contextlib.nullcontext()


def cand(cid, fitness, it=0, parent=None):
    return SimpleNamespace(id=cid, fitness=fitness, iteration=it, parent=parent, status="ok", code=f"# {cid}",
                           reward_path="", preference=None, reflection=None)


CFG = typed(OmegaConf.create({"task": {"name": "cartpole"}, "video": False, "seed": 0, "iterations": 3,
                              "llm": {"provider": "offline"}, "loop": {"selection": "mixed", "population": 4},
                              "feedback": {"mode": "scripted", "max_candidates": 4, "max_pairs": 10}}))
TASK = SimpleNamespace(state_names=["pole_angle", "cart_position"])


def test_pairs_answered_earlier_are_not_asked_again_unless_a_side_changed(tmp_path):
    session = ScriptedTeacher(PreferenceLog(tmp_path / "preferences.jsonl"))
    a, b = cand("a", 3.0), cand("b", 1.0)
    kw = dict(cfg=CFG, store=Store(tmp_path), task=TASK, reporter=Quiet())
    first = run_round(session, 0, [a, b], [], everyone=[a, b], **kw)
    assert (first.pairs, first.answered, first.known) == (1, 1, 0)
    assert first.scores["a"] > first.scores["b"]
    c = cand("c", 2.0, it=1, parent="a")
    second = run_round(session, 1, [c], [a, b], everyone=[a, b, c], **kw)
    assert (second.pairs, second.known, second.repeated) == (2, 1, 0)
    asked = {r["pair_id"] for r in session.log.records() if r["iteration"] == 1}
    assert asked == {"iter1:a|c", "iter1:c|b"}
    # a new evaluation of b: the pair (a, b) is asked again, on purpose
    b.fitness = 5.0
    third = run_round(session, 2, [], [a, b, c], everyone=[a, b, c], **kw)
    assert third.repeated >= 1 and "iter2:b|a" in {r["pair_id"] for r in session.log.records() if r["iteration"] == 2}
    assert "fell back" in third.line()


def test_round_line_names_answers_fallbacks_and_notes():
    rnd = PreferenceRound(1, pairs=5, answered=3, notes={"iter0_sample1": ["more pole_angle"],
                                                         "iter0_sample0": ["more pole_angle"]})
    line = rnd.line()
    assert line.startswith("preferences, iteration 2: 3 of 5 pair(s) answered, 2 fell back to fitness")
    assert '"more pole_angle" -> children of iter0_sample1, iter0_sample0' in line and "\n" not in line
    assert "no new pairs" in PreferenceRound(0, known=3).line()


def test_hints_for_the_designer_and_the_selection():
    hint = note_hint("offline", ["pole_angle", "cart_position"])
    assert "'more X'" in hint and "'less X'" in hint and "'no X'" in hint and "pole_angle, cart_position" in hint
    assert "added to the child's prompt" in note_hint("openai", ["x"])
    assert "mixed" in selection_text("mixed", 4) and "1/2" in selection_text("mixed", 4)
    assert "do not change" in selection_text("fitness", 4)


def test_choose_pairs_excludes_known_pairs_in_either_order():
    ids = list("abcdef")
    pairs = choose_pairs(ids, max_pairs=4, exclude=[("b", "a"), ("c", "b")])
    assert len(pairs) == 4 and ("a", "b") not in pairs and ("b", "c") not in pairs
    assert revision(cand("x", 1.0)) != revision(cand("x", 2.0))
