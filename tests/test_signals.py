"""No child outlives the run: SIGINT, SIGTERM and SIGKILL of a real CLI run, mid-training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.e2e]  # real eureka runs: make test, not test-fast


def processes_with(marker: str) -> list[int]:
    """Pids whose environment holds ``marker`` (the run's forkserver and every child of it)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def start_run(tmp_path: Path, marker: str) -> subprocess.Popen:
    env = dict(os.environ, EUREKA_TEST_MARK=marker)
    cmd = [sys.executable, "-m", "eureka.cli", "iterations=1", "samples=2", "trainer.total_timesteps=2000000",
           "eval.baselines=false", "video=false", f"hydra.run.dir={tmp_path / 'run'}"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)


def wait_for_training(tmp_path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    events = tmp_path / "run" / "events.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if events.exists() and sum('"validated"' in line for line in events.read_text().splitlines()) >= 2:
            metrics = list((tmp_path / "run" / "candidates").glob("*/metrics.jsonl"))
            if len(metrics) >= 2:
                return
        time.sleep(0.2)
    raise AssertionError("the run never started training")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_no_child_outlives_the_run(tmp_path, sig, code):
    marker = f"eureka-signal-test-{uuid.uuid4().hex}"
    proc = start_run(tmp_path, marker)
    try:
        wait_for_training(tmp_path, proc)
        assert len(processes_with(marker)) >= 4  # main, forkserver, sandbox workers, trainings
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == code, out[-2000:]
        if sig != signal.SIGKILL:
            assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
            assert "what was done so far is in" in out
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(marker) == [], "processes of the run are still alive 10 s after it ended"
        assert json.loads((tmp_path / "run" / "events.jsonl").read_text().splitlines()[0])["event"] == "run_started"
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
