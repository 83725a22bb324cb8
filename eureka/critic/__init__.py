"""The critic: extraction, static checks and a sandboxed dry run, before any training."""

from __future__ import annotations

import numpy as np

from eureka.critic.extract import extract_code
from eureka.critic.sandbox import SandboxLimits, SandboxPool
from eureka.critic.static import check_static
from eureka.critic.verdict import SandboxResult, Verdict
from eureka.errors import RewardError


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
            return Verdict.rejected(err, code)
        result = SandboxResult.from_dict(self.pool.run(code, self.states))
        if result.ok:
            return Verdict(code, check=result)
        assert result.failure is not None  # not ok: why
        return Verdict.rejected(result.failure, code, result)

    def check_answer(self, text: str) -> Verdict:
        """Extract code from a free-text answer and check it."""
        try:
            code = extract_code(text)
        except RewardError as err:
            return Verdict.rejected(err)
        return self.check_code(code)


__all__ = ["Critic", "SandboxLimits", "SandboxPool", "SandboxResult", "Verdict", "check_static", "extract_code"]
