"""A small OpenAI-compatible chat-completions server for tests (loopback only, ephemeral port).

``FakeOpenAI`` serves ``POST /v1/chat/completions`` from a background thread
(``http.server.ThreadingHTTPServer``). It answers like a chat model asked for
a cartpole reward: prose, one fenced python block defining ``compute_reward``,
more prose; it honours ``n`` (each choice slightly different) and reports
``usage`` tokens. Every request is recorded (``requests``: path, lower-case
headers, body; ``bodies``: the bodies), and every successful answer
(``responses``, ``usage_reported``).

Fault modes, set per test with ``server.configure(...)`` (counts are "the next
k requests"; ``True`` means every request):

- ``fail_times=k, fail_status=500|429``: HTTP errors, then success
  (``retry_after_ms`` is sent as ``retry-after-ms`` so the SDK retries fast;
  ``None`` leaves the SDK's own backoff);
- ``hang_s=s`` (``hang_times``): sleep before answering (client timeouts);
- ``drop``: close the connection without a response;
- ``malformed``: invalid JSON with status 200 and ``application/json``;
- ``empty``: the next k *choices* have empty content;
- ``unauthorized``: 401 unless ``Authorization: Bearer good-key``;
- ``no_n``: 400 when ``n > 1``;
- ``fewer_choices``: one choice even when ``n > 1``;
- ``garbage``: prose answers without any code;
- ``bad_shape``: valid JSON with status 200 whose choice has no ``message``.

Like a real server it cuts each answer at ``max_tokens`` (``finish_reason`` "length"); its
token count is ``len(text) // 4`` per message.

``server.script([...])`` serves given answer texts first, one per choice.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_KEY = "good-key"

_FAULTS = {"fail_times": 0, "fail_status": 500, "retry_after_ms": 20, "hang_s": 0.0, "hang_times": True,
           "drop": 0, "malformed": 0, "empty": 0, "unauthorized": False, "no_n": False,
           "fewer_choices": False, "garbage": 0, "bad_shape": 0, "retry_after_s": None}


def reward_answer(index: int, request_no: int) -> str:
    """A realistic multi-paragraph answer with a cartpole ``compute_reward``; varies with ``index``."""
    temp = 0.1 + 0.05 * index
    alive = 1.0 + 0.1 * index
    centre = 0.2 + 0.02 * (request_no % 5)
    return f"""I'll write a dense reward for CartPole. The fitness is the number of steps the pole stays up,
so the reward should mainly keep the pole upright, with a small bonus for every step it survives and a
mild preference for a centred cart so the policy does not drift off the track.

The upright term is a Gaussian of the pole angle with temperature {temp:.2f}: it is 1 when the pole is
vertical and decays smoothly as it tilts, which gives a useful gradient long before failure.

```python
import torch
from typing import Dict, Tuple


@torch.jit.script
def compute_reward(pole_angle: torch.Tensor, cart_position: torch.Tensor,
                   pole_angular_velocity: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    upright_temperature: float = {temp:.2f}
    upright = torch.exp(-pole_angle ** 2 / upright_temperature)
    centred = {centre:.2f} * torch.exp(-cart_position ** 2 / 1.0)
    calm = 0.05 * torch.exp(-pole_angular_velocity ** 2 / 4.0)
    alive = {alive:.2f} * torch.ones_like(pole_angle)
    reward = upright + centred + calm + alive
    return reward, {{"upright": upright, "alive": alive, "centred": centred, "calm": calm}}
```

Why these components:

- `upright` carries most of the signal and is bounded in [0, 1];
- `alive` ({alive:.2f} per step) rewards survival, which is what the fitness measures;
- `centred` and `calm` are small shaping terms that keep the cart near the middle and the pole steady.

All terms are bounded and vectorized over the batch, so the reward stays finite.
"""


def garbage_answer(index: int) -> str:
    """A chatty answer without any code."""
    return (f"Sure! Balancing a pole is a classic control problem (sample {index}).\n\n"
            "I would reward the agent for keeping the pole upright and the cart centred, "
            "but I'd rather describe the idea than write code today.\n\n"
            "Let me know if you want more details about the physics of the inverted pendulum.")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # noqa: ARG002 - silence broken pipes etc.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections die instead of blocking forever
    server: _Server

    def log_message(self, format, *args):  # noqa: A002
        pass

    # -- helpers ----------------------------------------------------------------------
    def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _error(self, status: int, message: str, kind: str, code: str | None = None,
               headers: dict | None = None) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._send(status, json.dumps(body).encode(), headers)

    # -- the route ----------------------------------------------------------------------
    def do_POST(self):  # noqa: N802
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"unknown route {self.path}", "invalid_request_error", "not_found")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "the request body is not JSON", "invalid_request_error")
            return
        no = fake._record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        n = int(body.get("n") or 1)

        if fake.faults["unauthorized"] and self.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            self._error(401, "Incorrect API key provided: sk-***. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                        "invalid_api_key")
            return
        if fake.faults["hang_s"] and fake._take("hang_times"):
            fake._stop.wait(float(fake.faults["hang_s"]))
        if fake._take("drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fake._take("fail_times"):
            status = int(fake.faults["fail_status"])
            ms = fake.faults["retry_after_ms"]
            headers = {"retry-after-ms": str(ms)} if ms is not None else {}
            if fake.faults["retry_after_s"] is not None:
                headers["retry-after"] = str(fake.faults["retry_after_s"])
            if status == 429:
                self._error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", headers)
            else:
                self._error(status, "The server had an error while processing your request.", "server_error",
                            None, headers)
            return
        if fake.faults["no_n"] and n > 1:
            self._error(400, "'n' is not supported by this server; only n=1", "invalid_request_error",
                        "unsupported_parameter")
            return
        if fake._take("malformed"):
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": {"content": "trunc')
            return

        if fake._take("bad_shape"):
            self._send(200, json.dumps({"id": "chatcmpl-odd", "object": "chat.completion", "model": "x",
                                        "choices": [{"index": 0, "finish_reason": "stop"}]}).encode())
            return

        count = 1 if fake.faults["fewer_choices"] else n
        garbage = fake._take("garbage")
        choices = []
        for i in range(count):
            text = garbage_answer(i) if garbage else (fake._next_scripted() or reward_answer(i, no))
            if fake._take("empty"):
                text = ""
            finish = "stop"
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            if limit and _tokens(text) > int(limit):  # like a real server: cut at max_tokens
                text, finish = text[:4 * int(limit)], "length"
            choices.append({"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": finish, "logprobs": None})
        prompt = sum(_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        completion = sum(_tokens(c["message"]["content"]) if c["message"]["content"] else 0 for c in choices)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        resp = {"id": f"chatcmpl-fake{no}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": choices, "usage": usage,
                "system_fingerprint": "fp_fake"}
        fake._answered(resp)
        try:
            self._send(200, json.dumps(resp).encode())
        except OSError:  # the client gave up (timeout) while we hung
            pass


class FakeOpenAI:
    """The server object: ``start()``/``stop()`` (or a ``with`` block), ``base_url``, recorded requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.faults: dict = dict(_FAULTS)
        self.requests: list[dict] = []
        self.responses: list[dict] = []  # every successful answer body, in order
        self.scripted: list[str] = []  # answers served (one per choice) before the built-in ones
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- configuration and records -----------------------------------------------------
    def configure(self, **faults) -> FakeOpenAI:
        unknown = set(faults) - set(_FAULTS)
        if unknown:
            raise TypeError(f"unknown fault mode(s): {sorted(unknown)}")
        with self._lock:
            self.faults.update(faults)
        return self

    def reset(self) -> None:
        with self._lock:
            self.faults = dict(_FAULTS)
            self.requests.clear()
            self.responses.clear()

    @property
    def bodies(self) -> list[dict]:
        with self._lock:
            return [r["body"] for r in self.requests]

    def _record(self, path: str, headers: dict, body: dict) -> int:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            return len(self.requests) - 1

    @property
    def usage_reported(self) -> list[dict]:
        with self._lock:
            return [r["usage"] for r in self.responses]

    def _answered(self, resp: dict) -> None:
        with self._lock:
            self.responses.append(resp)

    def script(self, answers: list[str]) -> FakeOpenAI:
        """Serve these answer texts, one per choice, in order (then the built-in answers again)."""
        with self._lock:
            self.scripted = list(answers)
        return self

    def _next_scripted(self) -> str | None:
        with self._lock:
            return self.scripted.pop(0) if self.scripted else None

    def _take(self, name: str) -> bool:
        """Consume one occurrence of a counted fault; ``True`` never runs out."""
        with self._lock:
            value = self.faults[name]
            if value is True:
                return True
            if value:
                self.faults[name] = int(value) - 1
                return True
            return False


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
