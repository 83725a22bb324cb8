"""Locate the project's data folders (conf/, prompts/, envs/).

They live at the repository root in a source checkout or editable install, and
inside the package as ``eureka/_data/`` in a wheel install.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory ``name`` (``conf``, ``prompts`` or ``envs``)."""
    for base in (PACKAGE_DIR / "_data", PACKAGE_DIR.parent):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"eureka data folder '{name}' not found next to {PACKAGE_DIR}")


def conf_dir() -> Path:
    """Hydra config directory."""
    return data_dir("conf")


def prompts_dir() -> Path:
    """Prompt template directory."""
    return data_dir("prompts")


def envs_dir() -> Path:
    """Built-in task definition directory."""
    return data_dir("envs")
