import itertools
import json
import threading

from eureka.prefer import PreferenceLog, bradley_terry, choose_pairs
from eureka.prefer.session import Pair, ScriptedTeacher


def test_bradley_terry_orders_by_wins_and_handles_ties_and_undefeated():
    comps = [("a", "b", "a"), ("a", "c", "a"), ("b", "c", "b"), ("a", "b", "a"), ("c", "d", "tie"),
             ("x", "a", "skip")]
    s = bradley_terry(["a", "b", "c", "d"], comps)
    # 'b' side of ("b", "c", "b") means c won: a > c > b; c tied d
    assert s["a"] > s["c"] > s["b"] and s["d"] > s["b"]
    assert all(abs(v) < 10 for v in s.values())  # undefeated 'a' stays finite
    assert abs(sum(s.values())) < 1e-6


def test_bradley_terry_recovers_a_noisy_ranking():
    true = {f"c{i}": i for i in range(5)}
    comps = []
    for k, (a, b) in enumerate(itertools.permutations(true, 2)):
        better = a if true[a] > true[b] else b
        flip = k % 7 == 0
        comps.append((a, b, "a" if (better == a) != flip else "b"))
    s = bradley_terry(list(true), comps)
    assert sorted(true, key=s.get) == sorted(true, key=true.get)


def test_pairs_all_when_few_neighbours_first_otherwise():
    assert len(choose_pairs(["a", "b", "c", "d"], max_pairs=10)) == 6
    pairs = choose_pairs([f"c{i}" for i in range(8)], max_pairs=10)
    assert len(pairs) == 10 and pairs[:3] == [("c0", "c1"), ("c1", "c2"), ("c2", "c3")]


def test_log_last_answer_wins_and_concurrent_appends_lose_nothing(tmp_path):
    log = PreferenceLog(tmp_path / "preferences.jsonl")

    def answer(choice):
        for _ in range(50):
            log.append({"iteration": 0, "pair_id": "p", "a": "x", "b": "y", "choice": choice})

    threads = [threading.Thread(target=answer, args=(c,)) for c in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "preferences.jsonl").read_text().splitlines()
    assert len(lines) == 100 and all(json.loads(x)["pair_id"] == "p" for x in lines)
    log.append({"iteration": 0, "pair_id": "p", "a": "x", "b": "y", "choice": "tie"})
    assert log.latest()["p"]["choice"] == "tie" and log.comparisons() == [("x", "y", "tie")]


def test_scripted_teacher_noise(tmp_path):
    pairs = [Pair(f"p{i}", {"id": "hi", "fitness": 2.0}, {"id": "lo", "fitness": 1.0}) for i in range(400)]
    exact = ScriptedTeacher(PreferenceLog(tmp_path / "a.jsonl"), noise=0.0)
    exact.run(0, pairs, [])
    assert all(r["choice"] == "a" for r in exact.log.records())
    noisy = ScriptedTeacher(PreferenceLog(tmp_path / "b.jsonl"), noise=0.2, seed=1)
    noisy.run(0, pairs, [])
    flips = sum(r["choice"] == "b" for r in noisy.log.records()) / len(pairs)
    assert 0.13 < flips < 0.27
