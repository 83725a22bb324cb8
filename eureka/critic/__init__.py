"""The critic: extraction, static checks and a sandboxed dry run, before any training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eureka.critic.extract import extract_code
from eureka.critic.sandbox import SandboxLimits, SandboxPool
from eureka.critic.static import check_static
from eureka.errors import RewardError


@dataclass
class Verdict:
    """The critic's decision on one answer."""

    status: str  # "ok" | "rejected"
    code: str = ""
    error_class: str | None = None
    message: str = ""
    line: int | None = None
    hint: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return {"status": self.status, "error_class": self.error_class, "message": self.message,
                "line": self.line, "hint": self.hint, **self.details}

    def feedback(self) -> str:
        """The error as text for the next prompt."""
        if self.ok:
            return ""
        where = f" (line {self.line} of the extracted code)" if self.line else ""
        return f"{self.error_class}{where}: {self.message}\nHint: {self.hint}"


def _rejected(err: RewardError, code: str = "") -> Verdict:
    return Verdict("rejected", code, err.error_class, err.message, err.line, err.hint)


class Critic:
    """Checks answers for one task against a real batch of its states."""

    def __init__(self, state_names: list[str], states: dict[str, np.ndarray], pool: SandboxPool):
        self.state_names = state_names
        self.states = states
        self.pool = pool

    def check_code(self, code: str) -> Verdict:
        """Static checks, then the sandboxed dry run."""
        try:
            check_static(code, self.state_names)
        except RewardError as err:
            return _rejected(err, code)
        result = self.pool.run(code, self.states)
        if result.get("status") == "ok":
            details = {k: v for k, v in result.items() if k != "status"}
            return Verdict("ok", code, details=details)
        return Verdict("rejected", code, result.get("error_class"), result.get("message", ""),
                       result.get("line"), result.get("hint", ""),
                       details={"check_ms": result.get("check_ms")})

    def check_answer(self, text: str) -> Verdict:
        """Extract code from a free-text answer and check it."""
        try:
            code = extract_code(text)
        except RewardError as err:
            return _rejected(err)
        return self.check_code(code)


__all__ = ["Critic", "SandboxLimits", "SandboxPool", "Verdict", "check_static", "extract_code"]
