"""The run directory: atomic files, NaN-free JSON, an append-only event log that survives a torn line."""

import json

from eureka.store import RunStore, read_jsonl


def test_files_events_and_a_torn_last_line(tmp_path):
    store = RunStore(tmp_path / "run")
    d = store.candidate_dir("iter0_sample0")
    assert d.is_dir() and d == tmp_path / "run" / "candidates" / "iter0_sample0"
    store.write_json("summary.json", {"best": float("nan"), "xs": [1.0, float("inf")]})
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"best": None, "xs": [1.0, None]}
    assert not list((tmp_path / "run").glob(".*.tmp"))
    store.event("designed", id="a")
    store.event("trained", id="a", fitness=float("nan"))
    with store.events_path.open("a") as f:
        f.write('{"event": "trai')  # a process killed mid-write
    events = store.events()
    assert [e["event"] for e in events] == ["designed", "trained"] and events[1]["fitness"] is None
    assert read_jsonl(tmp_path / "missing.jsonl") == []
