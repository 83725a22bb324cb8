"""The hooks a run reports its progress through (the CLI's display and the preference page implement them)."""

from __future__ import annotations

import contextlib
from typing import Any

from eureka.evolve.candidate import Candidate
from eureka.train.result import TrainResult


class Reporter:
    """Hooks the CLI uses to show progress; all no-ops here."""

    def iteration_started(self, it: int, total: int) -> None: ...
    def candidates_designed(self, it: int, candidates: list[Candidate]) -> None: ...
    def training_started(self, job_id: str, total_steps: int) -> None: ...
    def training_progress(self, job_id: str, steps: int) -> None: ...
    def candidate_done(self, cand: Candidate) -> None: ...
    def job_done(self, job_id: str, result: TrainResult) -> None: ...
    def paused(self) -> Any:
        """Context in which a session may use the terminal (progress display paused)."""
        return contextlib.nullcontext()

    def phase(self, text: str) -> None: ...
    def message(self, text: str) -> None: ...


__all__ = ["Reporter"]
