"""The critic's typed records: what a sandbox dry run found, and the verdict on one answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from eureka.errors import Failure, HasFailure, RewardError


@dataclass
class SandboxResult:
    """One dry run of a reward in a sandbox worker."""

    ok: bool
    components: list[str] = field(default_factory=list)  # names of the reward's components
    reward_mean: float | None = None
    reward_std: float | None = None
    component_means: dict[str, float] = field(default_factory=dict)
    call_ms: float | None = None  # median time of one reward call on the batch
    check_ms: float | None = None  # the whole check, including the round trip to the worker
    failure: Failure | None = None

    @classmethod
    def from_dict(cls, d: dict | SandboxResult) -> SandboxResult:
        """From a worker's answer (``status`` ok or rejected, plus its fields)."""
        if isinstance(d, SandboxResult):
            return d
        if d.get("status") == "ok":
            return cls(True, list(d.get("components", [])), d.get("reward_mean"), d.get("reward_std"),
                       dict(d.get("component_means", {})), d.get("call_ms"), d.get("check_ms"))
        return cls(False, check_ms=d.get("check_ms"), failure=Failure.from_dict(d))

    def to_dict(self) -> dict:
        if not self.ok:
            return {"check_ms": self.check_ms}
        return {"components": self.components, "reward_mean": self.reward_mean, "reward_std": self.reward_std,
                "component_means": self.component_means, "call_ms": self.call_ms, "check_ms": self.check_ms}


@dataclass
class Verdict(HasFailure):
    """The critic's decision on one answer: the extracted code, and why it was rejected (if it was)."""

    code: str = ""
    failure: Failure | None = None
    check: SandboxResult | None = None  # the dry run, when the answer got that far

    @classmethod
    def rejected(cls, err: RewardError | Failure, code: str = "", check: SandboxResult | None = None) -> Verdict:
        return cls(code, err if isinstance(err, Failure) else Failure.of(err), check)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "rejected"

    @property
    def components(self) -> list[str]:
        return self.check.components if self.check else []

    def to_dict(self) -> dict:
        """``validation.json``."""
        return {"status": self.status, **self.failure_fields(), **(self.check.to_dict() if self.check else {})}

    def feedback(self) -> str:
        """The error as text for the next prompt (with the line of the code, when known)."""
        return self.failure.render() if self.failure else ""
