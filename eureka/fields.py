"""Typed reads of the values of a JSON record written by this version or an older one (``summary.json`` and its
rows): a missing key, a null or a value of the wrong type reads as the default, never as an error.

The ``from_dict`` methods of the run's records (``eureka.evolve.summary``) read their keys through these.
"""

from __future__ import annotations

import math
from typing import Any


def num(v: object) -> float | None:
    """``v`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def integer(v: object) -> int | None:
    """``v`` as an int when it is an integer, or a string of one (JSON object keys are strings), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def text(v: object, default: str = "") -> str:
    """``v`` when it is a string, else ``default``."""
    return v if isinstance(v, str) else default


def opt_text(v: object) -> str | None:
    """``v`` when it is a non-empty string, else None."""
    return v if isinstance(v, str) and v else None


def mapping(v: object) -> dict[str, Any]:
    """``v`` when it is a JSON object, else an empty dict."""
    return v if isinstance(v, dict) else {}


def items(v: object) -> list[Any]:
    """``v`` when it is a JSON array, else an empty list."""
    return v if isinstance(v, list) else []


def per_seed(v: object) -> dict[int, float | None]:
    """A ``{"<seed>": fitness}`` object as ``{seed: fitness}`` (None: that training failed); other keys dropped."""
    out: dict[int, float | None] = {}
    for k, x in mapping(v).items():
        s = integer(k)
        if s is not None:
            out[s] = num(x)
    return out


def seeds(v: object) -> list[int]:
    """A JSON array of seeds as ints (anything else dropped)."""
    return [s for s in (integer(x) for x in items(v)) if s is not None]


__all__ = ["integer", "items", "mapping", "num", "opt_text", "per_seed", "seeds", "text"]
