"""Answers recorded earlier (no network, no key): from a run directory, or from the shared answer cache."""

from __future__ import annotations

import json
from pathlib import Path

from eureka.errors import ConfigError, LLMError
from eureka.llm.base import Answer, Designer, DesignRequest
from eureka.llm.cache import ResponseCache


def answers_of_run(run_dir: str | Path) -> dict[str, list[str]]:
    """``{messages as JSON: [answer of sample 0, 1, ...]}`` from a run's ``candidates/*/``."""
    root = Path(run_dir) / "candidates"
    if not root.is_dir():
        raise ConfigError(f"llm.replay_from: {run_dir} is not a run directory (no candidates/ folder)")
    rows = []
    for d in root.iterdir():
        prompt, response = d / "prompt.json", d / "response.txt"
        if d.name.startswith("iter") and prompt.is_file() and response.is_file():
            it, _, k = d.name[4:].partition("_sample")
            if it.isdigit() and k.isdigit():
                rows.append((int(it), int(k), json.loads(prompt.read_text()), response.read_text()))
    out: dict[str, list[str]] = {}
    for _, _, messages, text in sorted(rows, key=lambda r: (r[0], r[1])):
        out.setdefault(json.dumps(messages, sort_keys=True), []).append(text)
    return out


class ReplayDesigner(Designer):
    """Replays answers for the same model, messages, temperature and sample index.

    With ``run_dir`` (``llm.replay_from``) the answers come from that run's candidate folders
    (the same prompts in the same order give the same answers), else from the shared answer
    cache (``llm.cache=shared``) under the key the recorded run used (``shared_context``: its
    server, seed and max_tokens).
    """

    name = "replay"

    def __init__(self, model: str, temperature: float, cache: ResponseCache, run_dir: str | Path | None = None,
                 shared_context: dict | None = None):
        super().__init__()
        self.model, self.temperature, self.cache = model, temperature, cache
        self.shared_context = dict(shared_context or {})
        self.run_dir = run_dir
        self.recorded = answers_of_run(run_dir) if run_dir else None

    def propose(self, request: DesignRequest) -> list[Answer]:
        answers = []
        recorded = self.recorded.get(json.dumps(request.messages, sort_keys=True), []) if self.recorded else None
        for k in range(request.n):
            if recorded is not None:
                text = recorded[k] if k < len(recorded) else None
            else:
                from eureka.llm.managed import record_context

                ctx = {**record_context(self, request), **self.shared_context}
                text = self.cache.get(ctx, request.messages, k)
            if text is None:
                where = f"the run {self.run_dir}" if self.run_dir else f"the cache {self.cache.dir}"
                raise LLMError(f"llm=replay: no recorded answer for model '{self.model}', iteration "
                               f"{request.iteration}, sample {k} in {where}; the prompts differ from the recorded "
                               "run's (other settings?) or it did not get this far")
            answers.append(Answer(text, cached=True))
        self.usage.requests += 1
        return answers
