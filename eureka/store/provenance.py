"""Where a run came from: eureka's version and commit, the versions it ran with, the machine, the config.

Recorded in the ``run_started`` event and in ``summary.json``. A resumed run compares the
provenance of the run's first start with its own and says in one line what changed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = {"torch": "torch", "stable_baselines3": "stable-baselines3", "gymnasium": "gymnasium",
            "mujoco": "mujoco", "ray": "ray", "openai": "openai", "numpy": "numpy"}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def eureka_version() -> str | None:
    """The version of the eureka that runs: its checkout's ``pyproject.toml`` when imported from one (an
    editable install's metadata may belong to another checkout), else the installed ``eureka-rl``'s."""
    import re

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    with contextlib.suppress(OSError):
        m = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
        if m and 'name = "eureka-rl"' in pyproject.read_text():
            return m.group(1)
    return _version("eureka-rl")


def git_state(where: Path | None = None) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout eureka is imported from."""
    root = where or Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, env=env).stdout.strip() or None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, env=env)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def provenance(config: dict | None = None) -> dict:
    """The provenance block: versions, commit with dirty flag, machine, and the resolved ``config``."""
    return {
        "eureka": {"version": eureka_version(), **git_state()},
        "python": platform.python_version(),
        "packages": {name: _version(dist) for name, dist in PACKAGES.items()},
        "machine": {"hostname": platform.node(), "platform": platform.platform(), "arch": platform.machine(),
                    "cpus": os.cpu_count(), "executable": sys.executable},
        "config": config,
    }


def _describe(p: dict) -> str:
    e = p.get("eureka") or {}
    commit = (e.get("commit") or "")[:10] or "no commit"
    return f"eureka {e.get('version') or '?'} at {commit}{' (dirty)' if e.get('dirty') else ''}"


def changed_since(previous: dict | None, current: dict) -> str | None:
    """One line saying how this process differs from the one that started the run (None when it does not)."""
    if not previous:
        return None
    pe, ce = previous.get("eureka") or {}, current.get("eureka") or {}
    changes = []
    if (pe.get("version"), pe.get("commit"), pe.get("dirty")) != (ce.get("version"), ce.get("commit"), ce.get("dirty")):
        changes.append(f"{_describe(previous)} -> {_describe(current)}")
    if previous.get("python") != current.get("python"):
        changes.append(f"Python {previous.get('python')} -> {current.get('python')}")
    pp, cp = previous.get("packages") or {}, current.get("packages") or {}
    changes += [f"{k} {pp.get(k)} -> {cp.get(k)}" for k in sorted(set(pp) | set(cp)) if pp.get(k) != cp.get(k)]
    host = (previous.get("machine") or {}).get("hostname"), (current.get("machine") or {}).get("hostname")
    if host[0] != host[1]:
        changes.append(f"machine {host[0]} -> {host[1]}")
    if not changes:
        return None
    return "resume: the run was started with " + "; ".join(changes) + "; continuing"


def first_provenance(events: list[dict]) -> dict | None:
    """The provenance recorded when the run first started (its first ``run_started`` event)."""
    for e in events:
        if e.get("event") == "run_started":
            return e.get("provenance")
    return None
