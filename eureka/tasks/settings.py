"""A task file is a whole experiment: its ``Task(settings=...)`` carries the run's settings next to the task.

``settings`` uses the keys of the command line (``eureka/config.py``), nested or dotted::

    settings={"iterations": 2, "loop.target_fitness": -4.0,
              "trainer": {"algo": "ppo", "total_timesteps": 100_000, "ppo": {"n_steps": 256}}}

``task=path/to/task.py`` makes them a config option of the ``task`` group named after the task
(``as_task_config``), so Hydra applies them like ``conf/task/<name>.yaml`` and the command line still
overrides any of them. ``check_settings`` checks every key and type first, with the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eureka.errors import TaskCheckError, did_you_mean
from eureka.tasks.spec import Task

_EXPECTED = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "ListConfig": "a list",
             "DictConfig": "a mapping"}
FREE = ("trainer.ppo", "trainer.sac", "llm.prices")  # mappings whose keys are not in the schema


def nested(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}`` (dotted keys as on the command line)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        node = out
        *parents, last = str(key).split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if isinstance(value, Mapping):
            node[last] = {**node.get(last, {}), **nested(value)}
        else:
            node[last] = value
    return out


def _flat(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and full not in FREE:
            items += _flat(value, full + ".")
        else:
            items.append((full, value))
    return items


def _line(task: Task, key: str) -> str:
    """``file:line: `` of ``key`` in the task file (its last part, quoted or as a keyword), else of ``settings``."""
    if not task.source.endswith(".py"):
        return ""
    try:
        lines = Path(task.source).read_text().splitlines()
    except OSError:
        return f"{task.source}: "
    last = key.split(".")[-1]
    needles = (f'"{key}"', f"'{key}'", f'"{last}"', f"'{last}'", f"{last}=", "settings")
    for needle in needles:
        for i, line in enumerate(lines, 1):
            if needle in line:
                return f"{task.source}:{i}: "
    return f"{task.source}: "


def check_settings(task: Task) -> dict[str, Any]:
    """The task's settings as a nested dict, after checking every key and type against the config schema.

    Raises ``TaskCheckError`` (one line: file:line, the key, what is wrong, the closest valid key).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from eureka.config import EurekaConfig, check_config, typed

    if not task.settings:
        return {}
    if not isinstance(task.settings, Mapping):
        raise TaskCheckError(f"{_line(task, 'settings')}task '{task.name}': settings must be a dict of config keys "
                             f"(e.g. {{'trainer.algo': 'ppo'}}), got {type(task.settings).__name__}")
    tree = nested(task.settings)
    schema = OmegaConf.structured(EurekaConfig)
    valid = [k for k, _ in _flat(OmegaConf.to_container(schema))]  # type: ignore[arg-type]
    for key, value in _flat(tree):
        where = _line(task, key)
        if key.split(".")[0] == "task":
            raise TaskCheckError(f"{where}task '{task.name}': settings cannot set '{key}' (the file is the task)")
        free = next((f for f in FREE if key.startswith(f + ".") or key == f), None)
        if free is None and key not in valid:
            raise TaskCheckError(f"{where}task '{task.name}': settings: unknown config key '{key}'."
                                 f"{did_you_mean(key, valid)}")
        try:
            OmegaConf.merge(schema, _one(key, value))
        except OmegaConfBaseException as exc:
            cause = str(exc).strip().splitlines()[0]
            cause = next((f"expected {v}" for k, v in _EXPECTED.items() if k in cause), cause)
            raise TaskCheckError(f"{where}task '{task.name}': settings: {key}={value!r}: {cause}") from None
    try:
        check_config(typed(OmegaConf.merge(schema, tree, {"task": {"name": task.name}})))
    except TaskCheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - ConfigError: one line that starts with the key
        text = str(exc)
        key = text.split(":")[0].split("=")[0]
        raise TaskCheckError(f"{_line(task, key)}task '{task.name}': settings: {text}") from None
    return tree


def _one(key: str, value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {}
    cur = node
    *parents, last = key.split(".")
    for p in parents:
        cur = cur.setdefault(p, {})
    cur[last] = value
    return node


def as_task_config(task: Task, path: str | Path) -> dict[str, Any]:
    """The config option for ``task=<path>``: the task's checked settings plus ``task.name`` = the file."""
    return {**check_settings(task), "task": {"name": str(Path(path).resolve())}}


__all__ = ["as_task_config", "check_settings", "nested"]
