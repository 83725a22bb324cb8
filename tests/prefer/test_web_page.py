"""The web page's server driven in-process (no training): session ids, countdowns, the waiting state."""

import datetime
import io
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from eureka.evolve.loop import Reporter
from eureka.prefer import PreferenceLog, SessionInfo
from eureka.prefer.round import note_hint, selection_text
from eureka.prefer.session import Pair
from eureka.prefer.web import WebSession
from eureka.train.result import TrainResult

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
LONG = "    upright = torch.exp(-(pole_angle / 0.2) ** 2) * " + " * ".join(f"term_{i}" for i in range(40))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cand(cid, fitness, it, parent=None):
    return {"id": cid, "fitness": fitness, "iteration": it, "parent": parent, "video": None,
            "code": f"def compute_reward(pole_angle):  # {cid}\n{LONG}\n    return upright, {{}}",
            "reflection": f"reflection of {cid}", "parent_reflection": f"reflection of {parent}" if parent else "",
            "revision": "r", "in_population": it == 0, "current": it == 1}


def info(it, cands, sid):
    return SessionInfo(session_id=sid, iterations=2, selection="mixed", selection_text=selection_text("mixed", 4),
                       note_hint=note_hint("offline", ["pole_angle", "cart_position"]), candidates=cands,
                       score_ids=[c["id"] for c in cands])


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def api(session, path: str) -> str:
    """``path`` on the session's page, with its token (every request without it is refused)."""
    return f"{session.url.split('?')[0]}{path}?token={session.token}"


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def start(session, it, pairs, population, inf):
    out = {}
    t = threading.Thread(target=lambda: out.update(result=session.run(it, pairs, population, inf)), daemon=True)
    t.start()
    return t, out


def test_stale_answers_are_refused_and_the_last_answer_ends_the_session(tmp_path):
    log = PreferenceLog(tmp_path / "preferences.jsonl")
    lines = []
    session = WebSession(log, port=_free_port(), timeout_s=60, announce=lines.append, finish_delay_s=0.5)
    a, b = cand("a", 1.0, 0), cand("b", 2.0, 0)
    with session:
        assert get(api(session, "api/state"))["mode"] == "waiting"
        t, out = start(session, 0, [Pair("iter0:a|b", a, b)], [a, b], info(0, [a, b], "0-x"))
        deadline = time.time() + 10
        while get(api(session, "api/state"))["mode"] != "session" and time.time() < deadline:
            time.sleep(0.05)
        code, res = post(api(session, "api/answer"), {"session_id": "old", "pair_id": "iter0:a|b", "choice": "a"})
        assert code == 409 and "nothing was recorded" in res["message"] and not log.records()
        t0 = time.time()
        code, res = post(api(session, "api/answer"), {"session_id": "0-x", "pair_id": "iter0:a|b", "choice": "b"})
        assert code == 200 and res["answered"] == 1 and res["finish_in_s"] == 0.5
        t.join(timeout=10)
        assert out["result"].ended == "all answered" and out["result"].answered == 1
        assert time.time() - t0 < 5
        code, res = post(api(session, "api/answer"), {"session_id": "0-x", "pair_id": "iter0:a|b", "choice": "a"})
        assert code == 409 and "iteration 1" in res["message"] and len(log.records()) == 1
        assert log.records()[0]["session"] == "0-x"
        state = get(api(session, "api/state"))
        assert state["mode"] == "waiting" and state["status"]["last_session"]["answered"] == 1
    assert any("whole run" in line for line in lines)


def test_web_session_idle_timeout_and_busy_port(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        lines = []
        session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=port, timeout_s=1.5, announce=lines.append)
        pair = Pair("iter0:x|y", {"id": "x", "fitness": 1.0}, {"id": "y", "fitness": 2.0})
        t0 = time.time()
        result = session.run(0, [pair], [])
    assert result.timed_out and result.ended == "idle" and "falling back to fitness" in result.message
    assert time.time() - t0 < 15
    assert f"port {port} was busy" in lines[0]
    urls = [x for x in capsys.readouterr().out.splitlines() if x.startswith("http")]
    assert urls and urls[0] == session.url and f":{port}/" not in urls[0]


def test_url_is_one_unbroken_line_in_a_narrow_log(tmp_path):
    from rich.console import Console

    from eureka.report import RichReporter

    buf = io.StringIO()
    session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=_free_port(), announce=lambda s: None)
    session.watch(RichReporter(Console(file=buf, width=16, force_terminal=False)))
    with session:
        url = session.url
    assert len(url) > 16 and url in buf.getvalue().splitlines()


@pytest.mark.e2e  # a browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it as root)")
def test_page_follows_the_run_and_refuses_a_stale_tab_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    log = PreferenceLog(tmp_path / "preferences.jsonl")
    session = WebSession(log, port=_free_port(), timeout_s=120, announce=lambda s: None, finish_delay_s=3.0)
    reporter = session.watch(Reporter())
    first = [cand("iter0_sample0", 300.0, 0), cand("iter0_sample1", 200.0, 0), cand("iter0_sample2", 100.0, 0)]
    second = [cand("iter1_sample0", 400.0, 1, "iter0_sample0")]
    with session, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        # the waiting state: iteration, trainings and their progress, fitness so far
        reporter.iteration_started(0, 2)
        reporter.candidates_designed(0, [SimpleNamespace(id=c["id"], parent=None) for c in first])
        reporter.training_started("iter0_sample0", 1000)
        reporter.training_progress("iter0_sample0", 400)
        page.goto(session.url)
        page.wait_for_selector("text=iteration 1 of 2 · 1 training running")
        page.wait_for_selector("text=400 / 1000 steps")
        for c in first:
            reporter.candidate_done(SimpleNamespace(id=c["id"], iteration=0, parent=None, status="ok",
                                                    fitness=c["fitness"], error_class=None))
        page.wait_for_selector("text=Best fitness so far: 300.000 (iter0_sample0)")
        # a session starts: the open page switches to it by itself
        pairs = [Pair("iter0:iter0_sample0|iter0_sample1", first[0], first[1]),
                 Pair("iter0:iter0_sample1|iter0_sample2", first[1], first[2])]
        t, out = start(session, 0, pairs, first, info(0, first, "0-aaaa"))
        page.wait_for_selector("text=pair 1 of 2 (0 answered)")
        old = browser.new_page(viewport={"width": 1000, "height": 800})
        old.clock.install()
        old.goto(session.url)
        old.wait_for_selector("text=pair 1 of 2")
        old.clock.pause_at(datetime.datetime.now() + datetime.timedelta(seconds=1))  # a background tab: no polls
        # how choices and notes are used, the code (wrapped), parent and reflection of both candidates
        assert "loop.selection=mixed" in page.inner_text("#howused")
        hint = page.inner_text("#notehint")
        assert "'more X'" in hint and "'less X'" in hint and "'no X'" in hint and "pole_angle" in hint
        assert page.is_visible("#codeA") and "term_39" in page.inner_text("#codeB")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.evaluate("document.getElementById('codeA').scrollWidth <= document.getElementById('codeA').clientWidth")
        assert "parent: none (first iteration)" in page.inner_text("#metaA")
        assert "fall back to fitness" in page.inner_text("#idle")
        # answers; the scores in the population table follow them
        page.fill("#note", "more pole_angle")
        page.click("#btn-b")
        page.wait_for_selector("text=pair 2 of 2 (1 answered)")
        page.wait_for_function("[...document.querySelectorAll('#population td.score')].some(td => td.textContent !== 'n/a')")
        page.keyboard.press("a")  # keys answer too
        page.wait_for_selector("text=All pairs answered: the search continues in")
        t.join(timeout=15)
        assert out["result"].ended == "all answered" and out["result"].answered == 2
        page.wait_for_selector("text=Last preference session (iteration 1): 2 of 2 pair(s) answered, 0 fell back")
        # the next session: the page switches by itself; the stale tab's answer is refused
        reporter.iteration_started(1, 2)
        t2, out2 = start(session, 1, [Pair("iter1:iter1_sample0|iter0_sample0", second[0], first[0])],
                         first + second, info(1, first + second, "1-bbbb"))
        page.wait_for_selector("text=iteration 2 of 2: which behaviour is better?")
        page.wait_for_selector("text=A new preference session started")
        n = len(log.records())
        old.click("#btn-a")
        old.wait_for_selector("text=nothing was recorded")
        old.wait_for_selector("text=iteration 2 of 2: which behaviour is better?")
        assert len(log.records()) == n
        page.click("#btn-a")
        page.wait_for_selector("#hold")
        page.click("#hold")  # keep reviewing: the countdown stops, Done continues
        page.wait_for_selector("text=press Done")
        page.click("#done")
        t2.join(timeout=15)
        assert out2["result"].ended == "done"
        page.wait_for_selector("text=the run is working")
        browser.close()
    records = log.records()
    assert [r["session"] for r in records] == ["0-aaaa", "0-aaaa", "1-bbbb"]
    assert records[0]["note"] == "more pole_angle" and records[0]["choice"] == "b"


def test_open_browser_only_where_a_display_exists(tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    for display, expected in (("", 0), (":0", 1)):
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=_free_port(), announce=lambda s: None,
                             open_browser=True)
        with session:
            deadline = time.time() + 5
            while len(opened) < expected and time.time() < deadline:
                time.sleep(0.05)
        assert len(opened) == expected and (not opened or opened[-1] == session.url)


def test_page_reporter_forwards_every_hook(tmp_path):
    calls = []

    class Inner(Reporter):
        def __getattribute__(self, name):
            if not name.startswith("_"):
                calls.append(name)
            return super().__getattribute__(name)

    session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=_free_port(), announce=lambda s: None)
    rep = session.watch(Inner())
    c = SimpleNamespace(id="iter0_sample0", iteration=0, parent=None, status="ok", fitness=1.5, error_class=None)
    rep.iteration_started(0, 2)
    rep.candidates_designed(0, [c])
    rep.training_started("iter0_sample0", 100)
    rep.training_progress("iter0_sample0", 50)
    assert session.status.snapshot()["jobs"][0]["steps"] == 50
    rep.candidate_done(c)
    rep.training_started("best_seed0", 100)
    rep.job_done("best_seed0", TrainResult("best_seed0", fitness=2.0))
    rep.phase("final evaluation")
    rep.message("hello")
    with rep.paused():
        pass
    assert calls == ["iteration_started", "candidates_designed", "training_started", "training_progress",
                     "candidate_done", "training_started", "job_done", "phase", "message", "paused"]
    snap = session.status.snapshot()
    assert snap["best"] == {"id": "iter0_sample0", "fitness": 1.5} and snap["messages"] == ["hello"]
    assert [j["group"] for j in snap["jobs"]] == ["iteration 1", "final evaluation"]
    assert snap["jobs"][1]["status"] == "ok" and snap["jobs"][1]["fitness"] == 2.0


@pytest.mark.e2e  # a browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it as root)")
def test_note_box_keys_choices_view_and_the_finished_page_stops_polling(tmp_path):
    """Typing a/b in the note never answers, Escape leaves it; a person who prefers the lower fitness sees
    their top choice kept; after the session the page shows what the choices did; once the run has
    finished the page stops asking the server."""
    from playwright.sync_api import sync_playwright

    from eureka.prefer.steer import outcome

    log = PreferenceLog(tmp_path / "preferences.jsonl")
    session = WebSession(log, port=_free_port(), timeout_s=120, announce=lambda s: None, finish_delay_s=0.5)
    reporter = session.watch(Reporter())
    first = [cand("iter0_sample0", 300.0, 0), cand("iter0_sample1", 200.0, 0), cand("iter0_sample2", 100.0, 0)]
    for c in first:
        c["in_population"], c["current"] = False, True
    inf = info(0, first, "0-cccc")
    inf.population_size, inf.note_example = 2, "e.g. more pole_angle, less cart_velocity"
    pairs = [Pair("iter0:iter0_sample0|iter0_sample1", first[0], first[1]),
             Pair("iter0:iter0_sample1|iter0_sample2", first[1], first[2])]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        errors, console = [], []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        with session:
            reporter.iteration_started(0, 2)
            t, out = start(session, 0, pairs, first, inf)
            page.goto(session.url)
            page.wait_for_selector("text=pair 1 of 2 (0 answered)")
            assert page.get_attribute("#note", "placeholder") == "e.g. more pole_angle, less cart_velocity"
            # the code pane shows the whole reward: no clipping, no inner scrolling
            assert page.evaluate("(() => { const c = document.getElementById('codeA');"
                                 " return c.scrollHeight <= c.clientHeight + 1 && c.scrollWidth <= c.clientWidth; })()")
            page.click("#note")
            page.keyboard.type("a bit less cart_velocity, b")  # a and b are letters of the note here
            page.keyboard.press("t")
            time.sleep(0.5)
            assert not log.records() and page.input_value("#note") == "a bit less cart_velocity, bt"
            assert "pair 1 of 2 (0 answered)" in page.inner_text("#progress")
            page.keyboard.press("Escape")  # leaves the box: the keys answer again
            assert page.evaluate("document.activeElement.id") != "note"
            page.keyboard.press("b")  # the lower fitness (200 < 300)
            page.wait_for_selector("text=pair 2 of 2 (1 answered)")
            assert log.records()[0]["choice"] == "b" and log.records()[0]["note"] == "a bit less cart_velocity, bt"
            page.wait_for_selector("text=Your top choice so far: iter0_sample1")
            page.keyboard.press("b")  # the lower fitness again (100 < 200)
            t.join(timeout=15)
            assert out["result"].ended == "all answered"
            top = session_favourite_of(log)
            assert top == "iter0_sample2"
            # what the loop tells the page after selection (a population of 2 with the top choice pinned)
            pop = [SimpleNamespace(id="iter0_sample2", fitness=100.0, preference=1.2),
                   SimpleNamespace(id="iter0_sample0", fitness=300.0, preference=-1.3)]
            session.outcome(outcome(0, top, "mixed", pop, [pop[0], pop[1], pop[0]],
                                    {"iter0_sample1": ["a bit less cart_velocity, bt"]},
                                    [c["id"] for c in first], last=False))
            page.wait_for_selector("text=What your choices did (session 1)")
            assert "kept, first in the population" in page.inner_text("#ch-top")
            assert "sample 0 ← iter0_sample2" in page.inner_text("#ch-parents")
            assert "iter0_sample1" in page.inner_text("#ch-dropped")
            reporter.iteration_started(1, 2)
            reporter.candidates_designed(1, [SimpleNamespace(id="iter1_sample0", parent="iter0_sample2"),
                                             SimpleNamespace(id="iter1_sample1", parent="iter0_sample1")])
            reporter.candidate_done(SimpleNamespace(id="iter1_sample1", iteration=1, parent="iter0_sample1",
                                                    status="ok", fitness=42.0, error_class=None))
            page.wait_for_selector("text=iter1_sample1 (fitness 42.000)")  # the note's child and its score
            reporter.phase("final evaluation: best reward and baselines x 1 seeds")
            page.wait_for_selector("text=the run is finishing")
            assert "No more preference sessions" in page.inner_text("#waitnote")
            polls = []
            page.on("request", lambda r: polls.append(time.monotonic()) if "/api/state" in r.url else None)
        page.wait_for_selector("text=the run has finished")
        assert page.inner_text("#waitnote") == "" or not page.is_visible("#waitnote")
        stopped_at = time.monotonic()
        time.sleep(3)
        assert not [p for p in polls if p > stopped_at + 0.2], "the finished page still polls"
        assert errors == [] and console == [], (errors, console)  # no script error, no refused connection
        browser.close()


def session_favourite_of(log):
    from eureka.prefer.steer import session_favourite

    return session_favourite(log.latest(0).values())


def _status(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """The status of a GET and the cookies it set (a refusal is a status, not an exception)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(x.split(";", 1)[0].split("=", 1) for x in r.headers.get_all("set-cookie") or [])
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_only_the_url_with_the_token_gets_in(tmp_path):
    session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=_free_port(), announce=lambda s: None)
    with session:
        base = session.url.split("?")[0]
        assert "?token=" in session.url and len(session.token) >= 24
        for path in ("", "api/state", "video/a", "docs", "openapi.json"):  # a second client, without the token
            assert _status(base + path)[0] == 401, path
        assert _status(base + "api/state?token=" + session.token[:-1] + "x")[0] == 401
        code, cookies = _status(session.url)  # the person who started the run
        assert code == 200 and list(cookies.values()) == [session.token]
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        assert _status(base + "api/state", {"Cookie": cookie})[0] == 200  # the page's own requests after that
        assert post(base + "api/answer", {"pair_id": "x", "choice": "a"})[0] == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "10.0.0.1"])
def test_a_forged_host_header_is_refused(tmp_path, host):
    session = WebSession(PreferenceLog(tmp_path / "p.jsonl"), port=_free_port(), announce=lambda s: None)
    with session:
        assert _status(session.url, {"Host": host})[0] == 403  # DNS rebinding: the token alone is not enough
        port = session.bound_port
        for ok in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert _status(session.url, {"Host": ok})[0] == 200, ok
