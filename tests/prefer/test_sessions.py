"""The real preference sessions: the terminal one through a pseudo-terminal, the web one in Chromium."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.e2e  # real eureka runs with a preference session: make test, not test-fast

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# constant learning rate and clip range: 512 steps need no schedule (and a pickled schedule function is refused
# by the walled renderer today, which leaves the page without videos)
TINY = ["iterations=2", "samples=2", "trainer.total_timesteps=512", "trainer.n_envs=2", "eval.episodes=2",
        "eval.seeds=[0]", "eval.baselines=false", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64",
        "trainer.ppo.n_epochs=1", "video_steps=40", "trainer.ppo.learning_rate=0.001", "trainer.ppo.clip_range=0.2"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def printed_url(log_path: Path, port: int) -> str:
    """The page's URL as the run printed it: one unbroken line, with the page's token."""
    for line in log_path.read_text().splitlines():
        if re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?token=[\w-]{{20,}}", line):
            return line
    return ""


def _env(tmp_path):
    return {**os.environ, "EUREKA_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}


def test_cli_session_in_a_terminal(tmp_path):
    out = tmp_path / "run"
    child = pexpect.spawn(sys.executable, ["-m", "eureka.cli", "feedback=cli", *TINY, f"hydra.run.dir={out}"],
                          cwd=str(tmp_path), env=_env(tmp_path), encoding="utf-8", timeout=240,
                          dimensions=(50, 200))
    child.expect("pair 1 of 1")
    child.expect(r"video: (\S+rollout\.mp4|\(none\))")  # (none): the renderer failed, and said so
    assert child.match.group(1) == "(none)" or Path(child.match.group(1)).exists()
    child.expect(r"B: (\S+)  fitness")
    preferred = child.match.group(1)
    child.expect(r"Which is better\? \[a/b/t/s/q\]")
    child.sendline("x")
    child.expect("please type a, b, t, s or q")
    child.sendline("b")
    child.expect("What should change")
    child.sendline("more pole_angle please")
    child.expect("what your choices did")  # after selection: top choice, population, parents, notes
    child.expect(f"your top choice of session 1: {preferred} \\(kept, first in the population\\)")
    child.expect(f"parents of iteration 2: sample 0 <- {preferred},")
    child.expect('note "more pole_angle please" -> the children of')
    child.expect("1 pair\\(s\\) answered in earlier sessions are not asked again")
    child.expect("loop.selection=mixed")  # a person in the loop: choices count by default
    child.expect("'more X'")  # what the offline designer does with notes
    child.expect("pair 1 of 5")  # iteration 2: two new candidates and the population of two, minus the known pair
    child.expect(r"Which is better\?")
    child.sendline("a")
    child.expect("What should change")
    child.sendline("")
    child.expect(r"Which is better\?")
    child.sendline("q")
    child.expect(pexpect.EOF)
    plain = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", child.before).split())
    assert "preferences, iteration 2: 1 of 5 pair(s) answered, 4 fell back to fitness" in plain
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


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it as root)")
def test_one_page_for_a_two_iteration_run_in_chromium(tmp_path):
    """The page stays open across both sessions and the waiting state between them."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    out, port = tmp_path / "run", _free_port()
    log_path = tmp_path / "stdout.log"
    args = [a for a in TINY if not a.startswith(("samples=", "trainer.total_timesteps="))]
    with open(log_path, "w") as stdout:  # not a terminal: the URL must still be one unbroken line
        proc = subprocess.Popen([sys.executable, "-m", "eureka.cli", "feedback=web", f"feedback.port={port}", *args,
                                 "samples=3", "trainer.total_timesteps=3072", f"hydra.run.dir={out}"],
                                cwd=tmp_path, env=_env(tmp_path), stdout=stdout,
                                stderr=subprocess.PIPE, text=True)
    url = ""
    try:
        deadline = time.time() + 120
        while not (url := printed_url(log_path, port)):
            assert proc.poll() is None and time.time() < deadline, log_path.read_text()
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("text=the run is working")
            page.wait_for_selector("text=pair 1 of 3 (0 answered)", timeout=240_000)  # switched by itself
            assert "loop.selection=mixed" in page.inner_text("#howused")
            assert "Every candidate survives whatever you choose: 3 candidate(s) and 4 places" in page.inner_text("#survive")
            assert "'more X'" in page.inner_text("#notehint") and "pole_angle" in page.inner_text("#notehint")
            # videos are the renderer's (tests/test_render.py); the docs keep screenshots of runs whose videos play
            videos = page.locator("video").count() == 2
            if videos:
                with contextlib.suppress(PlaywrightTimeout):
                    page.wait_for_function("document.querySelector('video').readyState >= 2", timeout=20000)
                videos = page.evaluate("document.querySelector('video').readyState >= 2")
            assert page.locator("video").count() + page.locator(".novideo").count() == 2
            DOCS.mkdir(exist_ok=True)
            def shoot(name: str) -> None:
                if videos:
                    page.screenshot(path=str(DOCS / name), full_page=True)
                    _shrink_png(DOCS / name)

            shoot("preferences-web.png")
            page.fill("#note", "more pole_angle")
            page.click("#btn-b")
            page.wait_for_selector("text=pair 2 of 3")
            page.click("#btn-a")
            page.wait_for_selector("text=pair 3 of 3")
            page.click("#btn-a")  # the last answer ends the session after a short countdown
            page.wait_for_selector("text=All pairs answered: the search continues in")
            page.wait_for_selector("text=Last preference session (iteration 1): 3 of 3 pair(s) answered")
            page.wait_for_selector("text=iteration 2 of 2 ·", timeout=60_000)
            page.wait_for_selector("#jobs progress", timeout=60_000)
            with contextlib.suppress(PlaywrightTimeout):  # a nicer screenshot: some steps done
                page.wait_for_function("[...document.querySelectorAll('#jobs progress')].some(p => p.value > 0)",
                                       timeout=15_000)
            shoot("preferences-waiting.png")
            page.wait_for_selector("text=iteration 2 of 2: which behaviour is better?", timeout=240_000)
            assert "answered in earlier sessions are not asked again" in page.inner_text("#progress")
            assert page.locator("#population tr.current").count() >= 1
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.locator("#population details summary").first.click()
            shoot("preferences-population.png")
            page.click("#done")
            page.wait_for_selector("text=the run has finished", timeout=240_000)
            browser.close()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log_path.read_text()
    assert url in text.splitlines()
    plain = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())
    assert "preferences, iteration 1: 3 of 3 pair(s) answered, 0 fell back to fitness" in plain
    records = [json.loads(x) for x in (out / "preferences.jsonl").read_text().splitlines()]
    assert len(records) == 3 and records[0]["note"] == "more pole_angle" and records[0]["choice"] == "b"
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    ended = next(e for e in events if e["event"] == "preferences" and e["iteration"] == 0)
    latency = ended["time"] - records[-1]["time"]
    designed = next(e for e in events if e["event"] == "designed" and e["id"].startswith("iter1"))
    print(f"last answer -> run continues: {latency:.2f} s (-> next iteration designed: "
          f"{designed['time'] - records[-1]['time']:.2f} s)")
    assert latency < 3 + 3  # feedback.finish_delay_s (3 s) plus polling, on a busy machine
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feedback"] == "web" and summary["selection"] == "mixed"
    noted = records[0]["b"]
    children = [c for c in summary["iterations"][1]["candidates"] if c["parent"] == noted]
    assert children
    prompt = json.loads((out / "candidates" / children[0]["id"] / "prompt.json").read_text())
    assert "more pole_angle" in prompt[-1]["content"]


def _shrink_png(path: Path, limit: int = 300_000) -> None:
    """Keep a docs screenshot small: a 256-colour palette when the plain PNG is too big."""
    from PIL import Image

    if path.stat().st_size > limit:
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it as root)")
def test_a_person_who_prefers_the_lower_fitness_steers_the_run_in_chromium(tmp_path):
    """half_cheetah, two sessions, a population of 2 for 3 candidates: the person always prefers the side with
    the lower fitness. Their top choice survives and parents the next iteration, the page says so; the last
    session's top choice is the reward re-trained; the finished page stops polling."""
    from playwright.sync_api import sync_playwright

    out, port = tmp_path / "run", _free_port()
    log_path = tmp_path / "stdout.log"
    args = [a for a in TINY if not a.startswith(("samples=", "trainer.total_timesteps=", "trainer.n_envs"))]
    with open(log_path, "w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "eureka.cli", "task=half_cheetah", "feedback=web",
                                 f"feedback.port={port}", *args, "samples=3", "trainer.n_envs=1",
                                 "trainer.total_timesteps=1024", "loop.population=2", "feedback.finish_delay_s=1",
                                 f"hydra.run.dir={out}"],
                                cwd=tmp_path, env=_env(tmp_path), stdout=stdout, stderr=subprocess.PIPE, text=True)
    url = ""

    def prefer_lower(page) -> str:
        """Answer every pair of the open session for the lower-fitness side; return the person's top choice:
        the candidate they prefer to every other (a session may ask more pairs than it shows candidates, so the
        candidate chosen most often need not be it)."""
        shown: set[tuple[float, str]] = set()
        n = page.evaluate("state.session.pairs.length")
        for i in range(n):
            page.wait_for_selector(f"text=pair {i + 1} of {n} ({i} answered)")
            pair = page.evaluate("state.session.pairs[current]")
            # lower fitness; equal fitness (a child that trains as its parent did) by id: a total order
            a, b = ((pair[s]["fitness"] or 0, pair[s]["id"]) for s in ("a", "b"))
            shown |= {a, b}
            lower = "a" if a <= b else "b"
            if i == 0:
                page.click("#note")
                page.keyboard.type("less actions, a b")  # a and b: letters of the note, never answers
                assert page.evaluate("state.session.answered") == 0
                page.keyboard.press("Escape")
            page.keyboard.press(lower)
        return min(shown)[1]

    try:
        deadline = time.time() + 120
        while not (url := printed_url(log_path, port)):
            assert proc.poll() is None and time.time() < deadline, log_path.read_text()
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(url)
            page.wait_for_selector("text=pair 1 of 3 (0 answered)", timeout=300_000)
            assert "3 candidates compete for 2 places" in page.inner_text("#howused")
            assert not page.is_visible("#survive")  # 3 candidates, 2 places: choices decide who survives
            assert page.get_attribute("#note", "placeholder") == "e.g. more x_velocity, less actions"
            assert page.locator(".side video").count() == 2  # both clips were rendered (in their jails)
            page.wait_for_function("[...document.querySelectorAll('.side video')].every(v => v.readyState >= 2 "
                                   "&& v.currentTime > 0.3)", timeout=30_000)  # both playing, started together
            page.click("#playboth")  # one control for both clips: pause, scrub, restart
            times = page.evaluate("[...document.querySelectorAll('.side video')].map(v => [v.paused, v.currentTime])")
            assert all(p for p, _ in times) and abs(times[0][1] - times[1][1]) < 0.25, times
            page.evaluate("seek(0.5)")
            page.wait_for_function("[...document.querySelectorAll('.side video')].every(v => Math.abs(v.currentTime - 0.5) < 0.05)")
            page.click("#playboth")
            page.click("#restart")
            times = page.evaluate("[...document.querySelectorAll('.side video')].map(v => [v.paused, v.currentTime])")
            assert not any(p for p, _ in times) and all(t < 0.5 for _, t in times), times
            page.wait_for_timeout(600)
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "preferences-session.png"))
            _shrink_png(DOCS / "preferences-session.png")
            top = prefer_lower(page)
            page.wait_for_selector("text=What your choices did (session 1)", timeout=60_000)
            assert f"Your top choice: {top} kept, first in the population" in page.inner_text("#ch-top")
            assert f"sample 0 ← {top}" in page.inner_text("#ch-parents")
            page.wait_for_selector("#ch-notes >> text=fitness", timeout=300_000)  # the note's children scored
            page.locator("#choices").screenshot(path=str(DOCS / "preferences-choices.png"))
            _shrink_png(DOCS / "preferences-choices.png")
            page.wait_for_selector("text=iteration 2 of 2: which behaviour is better?", timeout=300_000)
            assert "This is the last session" in page.inner_text("#howused")
            # the session keeps what the last one did at hand, with the note's children scored
            assert "What your choices in session 1 did" in page.inner_text("#prevchoices")
            page.click("#prevchoices summary")
            assert "fitness" in page.inner_text("#prev-notes") and top in page.inner_text("#prev-top")
            final_top = prefer_lower(page)
            t_answer = time.monotonic()
            page.wait_for_selector("text=What your choices did (session 2)", timeout=60_000)
            t_choices = time.monotonic()
            assert f"{final_top} goes to the final re-training" in page.inner_text("#ch-final")
            after_last = page.inner_text("#waitnote")
            assert "last preference session" in after_last or "No more preference sessions" in after_last
            seen: dict[str, float] = {}
            deadline = time.time() + 300
            while "eureka: run finished" not in seen and time.time() < deadline:  # what the tab's title says
                seen.setdefault(page.title(), time.monotonic())
                page.wait_for_timeout(100)
            assert "eureka: run finished" in seen, seen
            page.wait_for_selector("text=the run has finished")
            print("from the last answer: " + ", ".join(
                [f"choices view {t_choices - t_answer:.1f} s"]
                + [f"'{k}' {v - t_answer:.1f} s" for k, v in sorted(seen.items(), key=lambda kv: kv[1])]))
            polls = []
            page.on("request", lambda r: polls.append(r.url) if "/api/state" in r.url else None)
            time.sleep(3)
            assert polls == [], "the finished page still polls"
            browser.close()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads((out / "summary.json").read_text())
    fitness = {c["id"]: c["fitness"] for it in summary["iterations"] for c in it["candidates"]}
    assert fitness[top] == min(fitness[c] for c in fitness if c.startswith("iter0_"))
    second_iter = summary["iterations"][1]["candidates"]
    assert any(c["parent"] == top for c in second_iter), second_iter  # the top choice parented iteration 2
    assert summary["best_candidate"] == final_top  # the last session's top choice is the reward re-trained
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    choices = [e for e in events if e["event"] == "choices"]
    assert [c["favourite"] for c in choices] == [top, final_top] and choices[0]["parents"][0]["parent"] == top
    records = [json.loads(x) for x in (out / "preferences.jsonl").read_text().splitlines()]
    assert records[0]["note"] == "less actions, a b"
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text()).split())
    assert "preferences, iteration 1: 3 of 3 pair(s) answered" in text
