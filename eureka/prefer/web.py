"""The web preference session: FastAPI + uvicorn, one page, served by the run.

Chosen over Gradio because the page is small and fixed (two videos, four buttons,
a note, a population table), FastAPI adds few dependencies, and its plain JSON
endpoints make the session easy to drive from a browser test. State lives on the
server (in ``preferences.jsonl``), so reopening the page resumes at the next
unanswered pair and two tabs cannot lose an answer (the last one wins).
"""

from __future__ import annotations

import html
import socket
import threading
import time
from pathlib import Path

from pydantic import BaseModel

from eureka.prefer.log import PreferenceLog
from eureka.prefer.session import Pair, Session, SessionResult, wait_idle

PAGE = Path(__file__).with_name("page.html")


class AnswerIn(BaseModel):
    """One answer posted by the page."""

    pair_id: str
    choice: str
    note: str = ""


def free_port(host: str, port: int, tries: int = 50) -> int:
    """``port`` if it can be bound on ``host``, else the next free one."""
    for p in range(port, port + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                s.bind((host, p))
                return p
            except OSError:
                continue
    raise OSError(f"no free port in {port}-{port + tries - 1} on {host}")


class WebSession(Session):
    """Serve the comparison page until the person presses Done, answers every pair, or goes idle."""

    def __init__(self, log: PreferenceLog, host: str = "127.0.0.1", port: int = 8765, timeout_s: float = 600.0,
                 announce=print):
        super().__init__(log, timeout_s)
        self.host, self.port, self.announce = host, port, announce
        self.url = ""

    def app(self, iteration: int, pairs: list[Pair], population: list[dict], state: dict):
        from fastapi import FastAPI, HTTPException
        from fastapi.responses import FileResponse, HTMLResponse

        app = FastAPI(title="eureka preferences")
        by_id = {p.pair_id: p for p in pairs}
        videos = {c["id"]: c.get("video") for p in pairs for c in (p.a, p.b)}
        videos.update({c["id"]: c.get("video") for c in population})

        def public(c: dict) -> dict:
            return {k: c.get(k) for k in ("id", "fitness", "preference", "parent", "code")} | {
                "has_video": bool(c.get("video"))}

        @app.get("/", response_class=HTMLResponse)
        def page() -> str:
            return PAGE.read_text().replace("{{TITLE}}", html.escape(f"eureka: iteration {iteration + 1}"))

        @app.get("/api/state")
        def get_state() -> dict:
            state["last"] = time.time()
            answers = self.log.latest(iteration)
            return {"iteration": iteration, "done": state["done"],
                    "pairs": [{"pair_id": p.pair_id, "a": public(p.a), "b": public(p.b),
                               "answer": answers.get(p.pair_id, {}).get("choice"),
                               "note": answers.get(p.pair_id, {}).get("note", "")} for p in pairs],
                    "population": [public(c) for c in population]}

        @app.post("/api/answer")
        def answer(body: AnswerIn) -> dict:
            if body.pair_id not in by_id:
                raise HTTPException(404, f"unknown pair {body.pair_id}")
            if body.choice not in ("a", "b", "tie", "skip"):
                raise HTTPException(422, "choice must be a, b, tie or skip")
            state["last"] = time.time()
            self.record(iteration, by_id[body.pair_id], body.choice, body.note[:2000], source="web")
            answered = len(self.log.latest(iteration))
            return {"ok": True, "answered": answered, "total": len(pairs)}

        @app.post("/api/done")
        def done() -> dict:
            state["done"] = True
            return {"ok": True}

        @app.get("/video/{cid}")
        def video(cid: str):
            path = videos.get(cid)
            if not path or not Path(path).is_file():
                raise HTTPException(404, "no video")
            return FileResponse(path, media_type="video/mp4" if path.endswith(".mp4") else "image/gif")

        return app

    def run(self, iteration: int, pairs: list[Pair], population: list[dict]) -> SessionResult:
        import uvicorn

        state = {"done": False, "last": time.time()}
        port = free_port(self.host, self.port)
        config = uvicorn.Config(self.app(iteration, pairs, population, state), host=self.host, port=port,
                                log_level="warning", lifespan="off", timeout_keep_alive=1,
                                timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 10
        while not server.started and time.time() < deadline and thread.is_alive():
            time.sleep(0.05)
        self.url = f"http://{self.host}:{port}/"
        moved = f" (port {self.port} was busy)" if port != self.port else ""
        self.announce(f"preference session for iteration {iteration + 1}: open {self.url}{moved}")
        try:
            timed_out = wait_idle(lambda: state["last"], lambda: state["done"], self.timeout_s)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        answers = self.log.latest(iteration)
        result = SessionResult(answered=sum(1 for p in pairs if p.pair_id in answers), timed_out=timed_out)
        if timed_out:
            result.message = (f"the page was idle for {self.timeout_s:g} s; falling back to fitness for the "
                              "unanswered pairs")
        return result
