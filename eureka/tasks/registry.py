"""Register and look up tasks by name or file path."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import traceback
from pathlib import Path

from eureka.errors import UnknownTaskError, did_you_mean
from eureka.paths import envs_dir
from eureka.tasks.spec import Task

_REGISTRY: dict[str, Task] = {}
_BUILTINS_LOADED = False


def register(task: Task, overwrite: bool = False) -> Task:
    """Add ``task`` to the registry under ``task.name``."""
    if task.name in _REGISTRY and not overwrite and _REGISTRY[task.name] is not task:
        existing = _REGISTRY[task.name].source
        if existing and existing == task.source:
            return _REGISTRY[task.name]
        raise ValueError(f"task '{task.name}' is already registered (from {existing or 'python'})")
    _REGISTRY[task.name] = task
    return task


def _import_error(path: Path, exc: BaseException) -> str:
    """One line: the file and line where importing a task file failed, and why."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
        why = f"{type(exc).__name__}: {exc.msg}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename).resolve().is_relative_to(path.parent)]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(path)
        why = f"{type(exc).__name__}: {exc}"
    return f"{where}: task file {path.name} failed to import: {why}"


def load_task_file(path: str | Path, add_to_path: bool = True) -> list[Task]:
    """Import a task file and register every ``Task`` it exposes as ``TASK`` or ``TASKS``.

    The file's folder goes on ``sys.path`` first (as pytest does with its rootdir), so a task
    file can import its own modules kept beside it (``from my_game import MyGameEnv``).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise UnknownTaskError(f"task file not found: {path}")
    if add_to_path and str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    mod_name = f"eureka_task_{path.stem}_{abs(hash(str(path))) % 10**8}"
    if mod_name in sys.modules:
        module = sys.modules[mod_name]
    else:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UnknownTaskError(f"cannot import task file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise UnknownTaskError(_import_error(path, exc)) from None
    found = list(getattr(module, "TASKS", []))
    if getattr(module, "TASK", None) is not None:
        found.append(module.TASK)
    if not found:
        raise UnknownTaskError(f"task file {path} defines no TASK (a eureka.tasks.Task)")
    for task in found:
        task.source = task.source or str(path)
        register(task)
    return found


_BROKEN: dict[str, str] = {}


def _load_builtins() -> None:
    """Import every task file in ``envs/``; a broken file is remembered, not fatal for the others."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for path in sorted(envs_dir().rglob("*.py")):
        if not path.name.startswith("_"):
            try:
                load_task_file(path, add_to_path=False)
            except UnknownTaskError as exc:
                _BROKEN[path.stem] = str(exc)
    for entry in importlib.metadata.entry_points(group="eureka.tasks"):
        try:
            obj = entry.load()
            for task in (obj if isinstance(obj, (list, tuple)) else [getattr(obj, "TASK", obj)]):
                if isinstance(task, Task):
                    task.source = task.source or f"entry point {entry.value}"
                    register(task)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
            _BROKEN[entry.name] = f"task entry point '{entry.name}' failed to load: {type(exc).__name__}: {exc}"


def list_tasks() -> list[str]:
    """Names of all registered tasks (built-ins included)."""
    _load_builtins()
    return sorted(_REGISTRY)


def make(name: str) -> Task:
    """Return the task registered as ``name``, or load it from a ``.py`` path."""
    if name.endswith(".py"):
        return load_task_file(name)[0]
    if name in _REGISTRY:
        return _REGISTRY[name]
    for own_file in (envs_dir() / f"{name}.py", envs_dir() / "examples" / f"{name}.py"):
        if own_file.is_file():
            load_task_file(own_file, add_to_path=False)
            if name in _REGISTRY:
                return _REGISTRY[name]
    _load_builtins()
    if name in _BROKEN:
        raise UnknownTaskError(_BROKEN[name])
    if name not in _REGISTRY:
        raise UnknownTaskError(
            f"unknown task '{name}'; valid tasks: {', '.join(sorted(_REGISTRY))}.{did_you_mean(name, _REGISTRY)}")
    return _REGISTRY[name]


def source_files() -> list[Path]:
    """The files the registered tasks were loaded from (what a jail may read of the user's files)."""
    return sorted({Path(t.source) for t in _REGISTRY.values() if t.source and t.source.endswith(".py")})
