"""The ``openai`` designer: any OpenAI-compatible chat-completions server."""

from __future__ import annotations

import os
import time
from typing import Any

import openai

from eureka.config import LLMConfig
from eureka.errors import LLMBudgetExceeded, LLMError
from eureka.llm.base import Answer, Designer, DesignRequest

_LLM = LLMConfig  # the defaults live in eureka/config.py


class OpenAIDesigner(Designer):
    """Chat completions via the official SDK (OpenAI, vLLM, Ollama, llama.cpp server, ...).

    Asks for ``n`` samples in one request where the server supports it and
    tops up with single requests where it returns fewer. The SDK retries
    429/5xx and connection errors with exponential backoff; malformed or
    empty answers are retried here. A wrong key, an unknown model or an
    unreachable server raise ``LLMError`` (one clear line).
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 temperature: float = _LLM.temperature, timeout_s: float = _LLM.timeout_s,
                 max_retries: int = _LLM.max_retries, max_tokens: int | None = None, use_n: bool = _LLM.use_n,
                 backoff_s: float = 1.0):
        super().__init__()
        self.model, self.temperature = model, temperature
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise LLMError("llm=openai needs an API key: set OPENAI_API_KEY (or llm.api_key), or point "
                               "llm.base_url at a local OpenAI-compatible server")
            key = "not-needed"
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.max_tokens, self.use_n = max_tokens, use_n
        self.client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout_s,
                                    max_retries=max_retries)
        self.gate = None  # a budget Meter (reserve/settle/release) every HTTP request passes first, when set

    @property
    def where(self) -> str:
        return self.base_url or "api.openai.com"

    def _create(self, messages: list[dict], n: int):
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if n > 1:
            kwargs["n"] = n
        if self.max_tokens:
            kwargs["max_tokens"] = self.max_tokens
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            held = self.gate.reserve(messages, n) if self.gate is not None else None
            try:
                try:
                    resp = self.client.chat.completions.create(**kwargs)
                except openai.APITimeoutError:
                    if held is not None:  # the server may have answered (and billed) after the client gave up
                        self.gate.settle(held, held.prompt_tokens, held.completion_tokens, messages)
                    held = None
                    raise
                except (openai.APIStatusError, openai.APIConnectionError):
                    if held is not None:
                        self.gate.release(held)  # an HTTP error or no connection: nothing billed
                    held = None
                    raise
                except BaseException:
                    if held is not None:  # an answer that could not be read may have been billed
                        self.gate.settle(held, held.prompt_tokens, held.completion_tokens, messages)
                    held = None
                    raise
                if held is not None:
                    usage = getattr(resp, "usage", None)
                    p = int(getattr(usage, "prompt_tokens", 0) or 0) if usage is not None else held.prompt_tokens
                    c = int(getattr(usage, "completion_tokens", 0) or 0) if usage is not None \
                        else held.completion_tokens
                    self.gate.settle(held, p, c, messages)  # no usage reported: charged at the estimate
                    held = None
                if not getattr(resp, "choices", None):
                    raise ValueError("the response has no choices")
                for ch in resp.choices:
                    msg = getattr(ch, "message", None)
                    if msg is None or not isinstance(getattr(msg, "content", None), (str, type(None))):
                        raise ValueError("a choice of the response has no message text")
                return resp
            except openai.AuthenticationError as exc:
                raise LLMError(f"the LLM server at {self.where} rejected the API key (HTTP 401): "
                               f"{_short(exc)}") from None
            except openai.PermissionDeniedError as exc:
                raise LLMError(f"the LLM server at {self.where} denied access (HTTP 403): {_short(exc)}") from None
            except openai.NotFoundError as exc:
                raise LLMError(f"model '{self.model}' or endpoint not found at {self.where} (HTTP 404): "
                               f"{_short(exc)}") from None
            except openai.BadRequestError as exc:
                if n > 1:
                    raise  # the caller falls back to one request per sample
                raise LLMError(f"the LLM server at {self.where} rejected the request (HTTP 400): "
                               f"{_short(exc)}") from None
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise LLMError(f"cannot reach the LLM server at {self.where} after {self.max_retries} retries: "
                               f"{_short(exc)}") from None
            except (openai.RateLimitError, openai.InternalServerError) as exc:
                raise LLMError(f"the LLM server at {self.where} kept failing after {self.max_retries} retries "
                               f"(HTTP {exc.status_code}): {_short(exc)}") from None
            except openai.APIStatusError as exc:
                raise LLMError(f"the LLM server at {self.where} answered HTTP {exc.status_code}: "
                               f"{_short(exc)}") from None
            except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError) as exc:
                last = exc
                if attempt < self.max_retries:
                    time.sleep(self.backoff_s * (2 ** attempt))
        raise LLMError(f"the LLM server at {self.where} returned malformed responses "
                       f"{self.max_retries + 1} times: {_short(last)}")

    def _account(self, resp) -> tuple[int, int]:
        self.usage.requests += 1
        usage = getattr(resp, "usage", None)
        p = int(getattr(usage, "prompt_tokens", 0) or 0)
        c = int(getattr(usage, "completion_tokens", 0) or 0)
        self.usage.prompt_tokens += p
        self.usage.completion_tokens += c
        return p, c

    def _texts(self, messages: list[dict], n: int) -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = []
        if self.use_n and n > 1:
            try:
                resp = self._create(messages, n)
                p, c = self._account(resp)
                texts = [(ch.message.content or "") for ch in resp.choices]
                out += [(t, p if i == 0 else 0, c if i == 0 else 0) for i, t in enumerate(texts)]
            except openai.BadRequestError:
                self.use_n = False
        while len(out) < n:
            try:
                resp = self._create(messages, 1)
            except LLMBudgetExceeded:
                if out:
                    break  # the budget allows no top-up: fewer samples
                raise
            p, c = self._account(resp)
            out.append((resp.choices[0].message.content or "", p, c))
        return out[:n]

    def propose(self, request: DesignRequest) -> list[Answer]:
        answers = []
        for text, p, c in self._texts(request.messages, request.n):
            if not text.strip():
                try:
                    retry = self._create(request.messages, 1)
                except LLMBudgetExceeded:
                    answers.append(Answer(text, p, c))  # the budget allows no retry: the empty answer stays
                    continue
                rp, rc = self._account(retry)
                text, p, c = retry.choices[0].message.content or "", p + rp, c + rc
            answers.append(Answer(text, p, c))
        return answers


def _short(exc: object) -> str:
    text = str(exc).replace("\n", " ")
    return text[:200]
