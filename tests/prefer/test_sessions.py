"""The real preference sessions: the terminal one through a pseudo-terminal, the web one in Chromium."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pexpect
import pytest

from eureka.prefer import PreferenceLog
from eureka.prefer.session import Pair
from eureka.prefer.web import WebSession

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TINY = ["iterations=2", "samples=2", "trainer.total_timesteps=512", "trainer.n_envs=2", "eval.episodes=2",
        "eval.seeds=[0]", "eval.baselines=false", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64",
        "trainer.ppo.n_epochs=1", "video_steps=40"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path):
    return {**os.environ, "EUREKA_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}


def test_cli_session_in_a_terminal(tmp_path):
    out = tmp_path / "run"
    child = pexpect.spawn(sys.executable, ["-m", "eureka.cli", "feedback=cli", *TINY, f"hydra.run.dir={out}"],
                          cwd=str(tmp_path), env=_env(tmp_path), encoding="utf-8", timeout=240,
                          dimensions=(50, 200))
    child.expect("pair 1 of 1")
    child.expect(r"video: (\S+rollout\.mp4)")
    assert Path(child.match.group(1)).exists()
    child.expect(r"Which is better\? \[a/b/t/s/q\]")
    child.sendline("x")
    child.expect("please type a, b, t, s or q")
    child.sendline("b")
    child.expect("What should change")
    child.sendline("more pole_angle please")
    child.expect("pair 1 of 6")  # iteration 2: two new candidates and the population of two
    child.expect(r"Which is better\?")
    child.sendline("a")
    child.expect("What should change")
    child.sendline("")
    child.expect(r"Which is better\?")
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    records = [json.loads(x) for x in (out / "preferences.jsonl").read_text().splitlines()]
    assert [r["choice"] for r in records] == ["b", "a"]
    assert records[0]["note"] == "more pole_angle please" and records[0]["iteration"] == 0
    noted = records[0]["b"]
    summary = json.loads((out / "summary.json").read_text())
    children = [c for c in summary["iterations"][1]["candidates"] if c["parent"] == noted]
    assert children, summary["iterations"]
    prompt = json.loads((out / "candidates" / children[0]["id"] / "prompt.json").read_text())
    assert "more pole_angle please" in prompt[-1]["content"]
    scores = json.loads((out / "preference_scores.json").read_text())["scores"]
    assert scores[records[0]["b"]] > scores[records[0]["a"]]


def _session(tmp_path, port, timeout_s=60.0):
    log = PreferenceLog(tmp_path / "preferences.jsonl")
    lines = []
    return WebSession(log, port=port, timeout_s=timeout_s, announce=lines.append), lines


def test_web_session_idle_timeout_and_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        session, lines = _session(tmp_path, port, timeout_s=1.5)
        pair = Pair("iter0:x|y", {"id": "x", "fitness": 1.0}, {"id": "y", "fitness": 2.0})
        t0 = time.time()
        result = session.run(0, [pair], [])
    assert result.timed_out and "falling back to fitness" in result.message and time.time() - t0 < 15
    assert f"port {port} was busy" in lines[0] and f":{port}/" not in lines[0]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it as root)")
def test_web_session_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    out, port = tmp_path / "run", _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "eureka.cli", "feedback=web", f"feedback.port={port}",
                             *[a for a in TINY if not a.startswith("samples=")], "samples=3",
                             f"hydra.run.dir={out}"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"

    def wait_for_page(n: int) -> None:
        """Poll the page's state until the session of iteration ``n`` is served."""
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, "eureka exited before the session"
            try:
                with urllib.request.urlopen(url + "api/state", timeout=2) as r:
                    if json.loads(r.read())["iteration"] == n - 1:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"no preference session for iteration {n}")

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            wait_for_page(1)
            page.goto(url)
            page.wait_for_selector("text=pair 1 of 3")
            assert page.locator("video").count() == 2
            page.wait_for_function("document.querySelector('video').readyState >= 2", timeout=20000)
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "preferences-web.png"), full_page=True)
            page.fill("#note", "more pole_angle")
            page.click("#btn-b")
            page.wait_for_selector("text=pair 2 of 3")
            page.click("#btn-a")
            page.wait_for_selector("text=pair 3 of 3")
            # the browser crashes: a new page resumes at the next unanswered pair
            page.close()
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("text=pair 3 of 3 (2 answered)")
            # two tabs answer the same pair: nothing crashes, the last answer wins
            other = browser.new_page()
            other.goto(url)
            other.wait_for_selector("text=pair 3 of 3")
            page.click("#btn-a")
            page.wait_for_selector("text=saved (3 of 3 answered)")
            other.click("#btn-tie")
            other.wait_for_selector("text=saved (3 of 3 answered)")
            page.locator("details summary").first.click()
            page.screenshot(path=str(DOCS / "preferences-population.png"), full_page=True)
            page.click("#done")
            page.wait_for_selector("text=the search continues")
            wait_for_page(2)
            page.goto(url)
            page.wait_for_selector("text=pair 1 of")
            page.click("#done")
            browser.close()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(x) for x in (out / "preferences.jsonl").read_text().splitlines()]
    assert len(records) == 4 and records[0]["note"] == "more pole_angle" and records[0]["choice"] == "b"
    log = PreferenceLog(out / "preferences.jsonl")
    latest = log.latest(0)
    assert len(latest) == 3 and latest[records[-1]["pair_id"]]["choice"] == "tie"
    noted = records[0]["b"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feedback"] == "web"
    children = [c for c in summary["iterations"][1]["candidates"] if c["parent"] == noted]
    assert children
    prompt = json.loads((out / "candidates" / children[0]["id"] / "prompt.json").read_text())
    assert "more pole_angle" in prompt[-1]["content"]
