"""The "delayed" corpus through the real CLI: answers that pass the dry run and act only in training.

The ``openai`` designer asks a local OpenAI-compatible server, which answers with the
files of ``tests/critic/corpus/delayed/`` (one per sample). The key is in the environment,
beside secrets under innocent names (a database URL, MySQL's password variable, an
error-reporting DSN): the key must reach the server and nothing else, the others nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.critic.test_corpus import CANARY_DIR, load_case
from tests.llm.fake_server import FakeOpenAI

pytestmark = [pytest.mark.timeout(600), pytest.mark.e2e]  # real eureka runs: make test, not test-fast
DELAYED = sorted((Path(__file__).parent / "critic" / "corpus" / "delayed").glob("*.md"))
FAKE_KEY = "sk-delayed-canary-42424242"
INNOCENT = {"DATABASE_URL": "postgres://app:pw-canary-7319@db/app", "MYSQL_PWD": "pw-canary-5521",
            "SENTRY_DSN": "https://pw-canary-8812@sentry.example/1"}


def test_delayed_answers_end_classified_and_leak_nothing(tmp_path):
    cases = [load_case(p) for p in DELAYED]
    assert len(cases) >= 7
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    (private / "canary.txt").write_text("canary")
    shutil.rmtree(CANARY_DIR, ignore_errors=True)
    CANARY_DIR.mkdir()
    CANARY_DIR.chmod(0o777)
    (CANARY_DIR / "canary.txt").write_text("canary")
    run = tmp_path / "run"
    with FakeOpenAI() as server:
        server.script([text for _, text in cases])
        cmd = [sys.executable, "-m", "eureka.cli", "llm=openai", f"llm.base_url={server.base_url}",
               "llm.model=test-model", "iterations=1", f"samples={len(cases)}",
               "trainer.total_timesteps=1024", "trainer.n_envs=2", "trainer.num_envs=2", "trainer.memory_mb=1024", "eval.episodes=2",
               "eval.seeds=[1]", "eval.baselines=false", "video=false", "sandbox.call_timeout_s=1.0",
               f"hydra.run.dir={run}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["EUREKA_CACHE_DIR"] = str(tmp_path / "cache")
        env.update(INNOCENT, OPENAI_API_KEY=FAKE_KEY)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500, cwd=tmp_path)
        elapsed = time.monotonic() - t0
        requests = list(server.requests)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert elapsed < 400, elapsed
    assert "xxxxxxxxxx" not in out and "zzzzzzzzzz" not in out  # candidate output stays in its log

    summary = json.loads((run / "summary.json").read_text())
    rows = {r["id"]: r for r in summary["iterations"][0]["candidates"]}
    for k, (expected, _) in enumerate(cases):
        row = rows[f"iter0_sample{k}"]
        got = "ok" if row["status"] == "ok" else row["error_class"]
        assert got in expected, (DELAYED[k].name, row)
        assert len(row.get("message") or "") <= 2000
    for kind in ("critic", "training"):
        assert "seccomp" in summary["walls"][kind] and "landlock" in summary["walls"][kind], summary["walls"]

    flood = [k for k, p in enumerate(DELAYED) if p.stem == "print_flood"][0]
    log = run / "candidates" / f"iter0_sample{flood}" / "output.log"
    assert 0 < log.stat().st_size <= (1 << 20) + 200

    # the key reached the server as the bearer token, and nowhere else
    assert requests and all(r["headers"]["authorization"] == f"Bearer {FAKE_KEY}" for r in requests)
    assert all(FAKE_KEY not in json.dumps(r["body"]) for r in requests)
    assert all("pw-canary" not in json.dumps(r["body"]) for r in requests)
    for p in run.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert FAKE_KEY.encode() not in data and b"pw-canary" not in data, f"a secret leaked into {p}"
    # canaries untouched
    assert (private / "canary.txt").read_text() == "canary" and len(list(private.iterdir())) == 1
    assert sorted(x.name for x in CANARY_DIR.iterdir()) == ["canary.txt"]
    shutil.rmtree(CANARY_DIR, ignore_errors=True)


def test_a_key_on_the_command_line_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "eureka.cli", "llm=openai", f"llm.api_key={FAKE_KEY}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0] and FAKE_KEY not in lines[0], proc.stderr
    assert not (tmp_path / "outputs").exists()
