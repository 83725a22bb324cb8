"""Error classes shared by every stage.

``EurekaError`` and its subclasses are user-facing: the CLI prints their
message as one line and exits non-zero. ``RewardError`` subclasses classify
why a candidate reward was rejected; their text goes back to the designer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class EurekaError(Exception):
    """A user-facing error: printed as one line, no traceback."""


class ConfigError(EurekaError):
    """A wrong config key or value."""


class UnknownTaskError(ConfigError):
    """A task name that is not registered."""


class TaskCheckError(ConfigError):
    """A task definition that cannot work (found before the search starts)."""


class LLMError(EurekaError):
    """The language model could not be used (unreachable, bad key, budget)."""


class LLMBudgetExceeded(LLMError):
    """The token budget is used up: the run stops asking and finishes cleanly."""


class RewardError(Exception):
    """Why a candidate reward was rejected. ``error_class`` names the subclass."""

    hint: str = ""

    def __init__(self, message: str, line: int | None = None, hint: str | None = None):
        from eureka.sandbox.policy import bound_text

        message = bound_text(message)  # it goes into files, the terminal and the next prompt
        super().__init__(message)
        self.message = message
        self.line = line
        if hint is not None:
            self.hint = hint

    @property
    def error_class(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict:
        return {"error_class": self.error_class, "message": self.message, "line": self.line,
                "hint": self.hint}


class RewardSyntaxError(RewardError):
    hint = "Return one fenced ```python block that defines compute_reward and parses as Python."


class RewardSignatureError(RewardError):
    hint = "Name every parameter of compute_reward after a state variable from the table."


class ForbiddenCode(RewardError):
    hint = "Use only torch, math, typing and numpy arithmetic; no files, processes, network or introspection."


class RewardRuntimeError(RewardError):
    hint = "Check tensor shapes (all inputs are batched, [N] or [N, d]) and operations on them."


class RewardShapeError(RewardError):
    hint = "Return a float tensor of shape [N] and a dict of named [N] float tensors."


class NonFiniteReward(RewardError):
    hint = "Guard divisions and exponentials (add epsilons, clamp exponents) so rewards stay finite."


class RewardTimeout(RewardError):
    hint = "Use vectorized tensor operations only; no loops over the batch or unbounded loops."


class RewardMemoryError(RewardError):
    hint = "Do not allocate large tensors; the reward should only combine the given [N] inputs."


class TrainingCrash(RewardError):
    hint = "The training process failed; keep the reward simple, bounded and vectorized."


@dataclass(frozen=True)
class Failure:
    """Why a candidate failed: the same record from where it is raised (critic, sandbox, training)
    to where it is rendered (prompt, summary, terminal)."""

    error_class: str
    message: str
    line: int | None = None  # line of the extracted reward code, when known
    hint: str = ""

    @classmethod
    def of(cls, err: RewardError) -> Failure:
        return cls(err.error_class, err.message, err.line, err.hint)

    @classmethod
    def from_dict(cls, d: dict) -> Failure:
        """From the ``error_class``/``message``/``line``/``hint`` keys of a child process's answer."""
        error_class = d.get("error_class") or "RewardRuntimeError"
        hint = d.get("hint") or REWARD_ERRORS.get(error_class, RewardRuntimeError).hint
        return cls(error_class, str(d.get("message") or ""), d.get("line"), hint)

    def to_dict(self) -> dict:
        return {"error_class": self.error_class, "message": self.message, "line": self.line, "hint": self.hint}

    def render(self, cid: str | None = None) -> str:
        """The failure as feedback text for the designer (with the line of the reward code, if known)."""
        where = f" (line {self.line} of the reward code)" if self.line else ""
        head = f"[{cid}] " if cid else ""
        return f"{head}{self.error_class}{where}: {self.message}\nHint: {self.hint}"



class HasFailure:
    """The fields of an object's ``failure`` (``None`` when nothing failed), read through."""

    failure: Failure | None

    @property
    def error_class(self) -> str | None:
        return self.failure.error_class if self.failure else None

    @property
    def message(self) -> str:
        return self.failure.message if self.failure else ""

    @property
    def line(self) -> int | None:
        return self.failure.line if self.failure else None

    @property
    def hint(self) -> str:
        return self.failure.hint if self.failure else ""

    def failure_fields(self) -> dict:
        """``error_class``, ``message``, ``line`` and ``hint`` for a JSON record (empty when it did not fail)."""
        return self.failure.to_dict() if self.failure else {"error_class": None, "message": "", "line": None,
                                                              "hint": ""}

REWARD_ERRORS: dict[str, type[RewardError]] = {
    cls.__name__: cls
    for cls in (RewardSyntaxError, RewardSignatureError, ForbiddenCode, RewardRuntimeError,
                RewardShapeError, NonFiniteReward, RewardTimeout, RewardMemoryError, TrainingCrash)
}


def reward_error(error_class: str, message: str, line: int | None = None) -> RewardError:
    """Build a ``RewardError`` subclass instance from its class name."""
    return REWARD_ERRORS.get(error_class, RewardRuntimeError)(message, line)


def error_from_child(data: object) -> RewardError:
    """Rebuild a classified error from what a (possibly hostile) child process reported.

    Only the class name, a bounded message and an integer line are taken; the hint is the
    class's own, so nothing a candidate wrote grows the next prompt beyond a bound.
    """
    d = data if isinstance(data, dict) else {}
    cls = REWARD_ERRORS.get(str(d.get("error_class")), RewardRuntimeError)
    line = d.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 1_000_000 else None
    return cls(str(d.get("message") or "no message"), line)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``name`` or None."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' or an empty string."""
    match = closest(name, choices)
    return f" Did you mean '{match}'?" if match else ""
