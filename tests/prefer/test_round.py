"""The preference round: pairs not asked twice, pairs asked again on purpose, the end-of-session line."""

from types import SimpleNamespace

from omegaconf import OmegaConf

from eureka.config import typed
from eureka.prefer import PreferenceLog, PreferenceRound, ScriptedTeacher, choose_pairs, run_round
from eureka.prefer.round import note_hint, revision, selection_text
from eureka.prefer.session import SessionResult


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


def test_top_choice_projection_and_texts_with_this_sessions_numbers():
    from eureka.prefer.steer import project, session_favourite

    answers = [{"a": "hi", "b": "mid", "choice": "b"}, {"a": "mid", "b": "lo", "choice": "b"},
               {"a": "hi", "b": "lo", "choice": "b"}]
    assert session_favourite(answers) == "lo"
    assert session_favourite([{"a": "x", "b": "y", "choice": "tie"}, {"a": "x", "b": "y", "choice": "skip"}]) is None
    rows = [{"id": "hi", "fitness": 3.0}, {"id": "mid", "fitness": 2.0}, {"id": "lo", "fitness": 1.0}]
    p = project(rows, {"hi": -1.0, "mid": 0.0, "lo": 1.0}, "lo", "mixed", 2)
    assert p["lo"] == {"fitness_rank": 3, "preference_rank": 1, "place": 1, "kept": True, "top_choice": True}
    assert p["hi"]["kept"] is False and p["mid"]["kept"] is True  # the tie of mean ranks goes to preference
    assert [k for k, v in project(rows, {}, "lo", "fitness", 2).items() if v["kept"]] == ["hi", "mid"]
    text = selection_text("mixed", 2, competing=3, samples=3)
    assert "3 candidates compete for 2 places" in text and "ties go to your preference" in text
    last = selection_text("mixed", 2, competing=3, last=True, final_seeds=2)
    assert "last session" in last and "re-trained with 2 seed(s)" in last and "your top choice" in last


class Recording(ScriptedTeacher):
    """A teacher that prefers the lower fitness and keeps the SessionInfo it was shown."""

    def run(self, iteration, pairs, population, info=None):
        self.info = info
        for pair in pairs:
            self.record(iteration, pair, "a" if pair.a["fitness"] < pair.b["fitness"] else "b",
                        session_id=info.session_id)
        return SessionResult(answered=len(pairs), ended="all answered")


def test_round_warns_when_everyone_survives_and_names_the_top_choice(tmp_path):
    session = Recording(PreferenceLog(tmp_path / "preferences.jsonl"))
    a, b, c = cand("a", 3.0), cand("b", 2.0), cand("c", 1.0)
    kw = dict(store=Store(tmp_path), task=SimpleNamespace(state_names=["x_velocity", "actions"], hints=[]),
              reporter=Quiet())
    rnd = run_round(session, 0, [a, b, c], [], everyone=[a, b, c], cfg=CFG, **kw)
    assert rnd.favourite == "c" and set(rnd.shown) == {"a", "b", "c"}
    assert "Every candidate survives whatever you choose: 3 candidate(s) and 4 places" in session.info.survive
    assert session.info.note_example == "e.g. more x_velocity, less actions" and not session.info.last
    small = OmegaConf.merge(CFG, {"loop": {"population": 2}, "iterations": 1})
    session = Recording(PreferenceLog(tmp_path / "p2.jsonl"))
    run_round(session, 0, [a, b, c], [], everyone=[a, b, c], cfg=small, **kw)
    assert session.info.survive == "" and session.info.last and "last session" in session.info.selection_text
