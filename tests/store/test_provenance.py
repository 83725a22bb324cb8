"""Provenance in ``run_started`` and ``summary.json``; a resume under other software says so in one line."""

from __future__ import annotations

import json

from eureka.evolve import EurekaLoop
from eureka.evolve.loop import Reporter
from eureka.store import read_jsonl
from eureka.store.provenance import changed_since, provenance
from tests.evolve.test_loop import make_cfg
from tests.evolve.test_loop_logic import StubExecutor


class Messages(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def test_provenance_is_recorded_and_a_changed_resume_says_so(tmp_path):
    cfg = make_cfg(iterations=1, samples=2, eval={"seeds": [1], "num_seeds": 1, "baselines": False})
    summary = EurekaLoop(cfg, tmp_path, executor=StubExecutor(lambda sp: 10.0)).run().to_dict()
    p = summary["provenance"]
    assert p["eureka"]["commit"] and len(p["eureka"]["commit"]) == 40 and isinstance(p["eureka"]["dirty"], bool)
    for name in ("torch", "stable_baselines3", "gymnasium", "mujoco", "ray"):
        assert name in p["packages"]
    assert p["packages"]["torch"] and p["python"] and p["machine"]["hostname"] and p["machine"]["cpus"]
    assert p["config"]["seed"] == cfg.seed and p["config"]["samples"] == 2
    started = [e for e in read_jsonl(tmp_path / "events.jsonl") if e["event"] == "run_started"]
    assert started[0]["provenance"] == json.loads(json.dumps(p))
    assert json.loads((tmp_path / "summary.json").read_text())["provenance"]["eureka"] == p["eureka"]

    # the same software: a resume says nothing about it
    quiet = Messages()
    EurekaLoop(cfg, tmp_path, reporter=quiet, executor=StubExecutor(lambda sp: 10.0)).run()
    assert not [m for m in quiet.lines if m.startswith("resume:")]

    # the run's first start was at another commit: one line, then the run goes on
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    first = json.loads(events[0])
    first["provenance"]["eureka"]["commit"] = "0123456789abcdef"
    first["provenance"]["packages"]["torch"] = "1.0"
    (tmp_path / "events.jsonl").write_text("\n".join([json.dumps(first), *events[1:]]) + "\n")
    told = Messages()
    summary = EurekaLoop(cfg, tmp_path, reporter=told, executor=StubExecutor(lambda sp: 10.0)).run().to_dict()
    lines = [m for m in told.lines if m.startswith("resume:")]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "0123456789" in lines[0] and "torch 1.0 ->" in lines[0] and lines[0].endswith("continuing")
    assert summary["status"] == "completed"


def test_changed_since_is_none_for_the_same_software():
    p = provenance({})
    assert changed_since(None, p) is None
    assert changed_since(json.loads(json.dumps(p)), p) is None
