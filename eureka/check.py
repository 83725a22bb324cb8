"""The checks of a task definition, shared by the loop's pre-flight and ``eureka-check-task``.

``preflight`` runs them before every search (the hints, the env builds and steps, the state extractor
returns every declared variable with the declared shape as finite float tensors, the fitness is one float
per env) and stops at the first problem with one line naming the file and line (``TaskCheckError``).
``eureka-check-task`` (``eureka/check_task.py``) runs them all and adds the critic, a short training and a
rendered frame.
"""

from __future__ import annotations

import inspect
import re
import traceback
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from eureka.errors import TaskCheckError, did_you_mean
from eureka.tasks import Task
from eureka.tasks.spec import HINT_GOALS, REDUCES


def _declared_dims(shape: str) -> list[str]:
    return [p.strip() for p in shape.strip("[] ").split(",") if p.strip()]


# -- where a problem is: the task file (or a file beside it) and the line -----------------------------------
def _task_folder(task: Task) -> Path | None:
    return Path(task.source).resolve().parent if task.source.endswith(".py") else None


def _frame_in_task(task: Task, exc: BaseException) -> tuple[str, int] | None:
    """The deepest traceback frame in the task's folder (else outside eureka and site-packages)."""
    frames = traceback.extract_tb(exc.__traceback__)
    folder = _task_folder(task)
    if folder is not None:
        for fr in reversed(frames):
            if Path(fr.filename).resolve().is_relative_to(folder):
                return fr.filename, fr.lineno or 0
    pkg = str(Path(__file__).resolve().parent)
    for fr in reversed(frames):
        if not fr.filename.startswith(pkg) and "site-packages" not in fr.filename and not fr.filename.startswith("<"):
            return fr.filename, fr.lineno or 0
    return None


def _line_of(obj: Any, *needles: str) -> tuple[str, int] | None:
    """The first line of ``obj``'s source (a function) containing one of ``needles`` (else its first line)."""
    try:
        lines, first = inspect.getsourcelines(obj)
        path = inspect.getsourcefile(obj) or ""
    except (OSError, TypeError):
        return None
    for i, line in enumerate(lines):
        if any(n in line for n in needles):
            return path, first + i
    return path, first


def _line_in_file(task: Task, *needles: str) -> tuple[str, int] | None:
    if not task.source.endswith(".py"):
        return None
    try:
        lines = Path(task.source).read_text().splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines, 1):
        if any(n in line for n in needles):
            return task.source, i
    return task.source, 1


def _fail(task: Task, what: str, where: tuple[str, int] | None) -> TaskCheckError:
    loc = f"{where[0]}:{where[1]}: " if where else (f"{task.source}: " if task.source else "")
    return TaskCheckError(f"{loc}task '{task.name}': {what}")


def _exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- the checks (shared by eureka-check-task and the check before every search) ----------------------------
def check_env(task: Task) -> gym.Space:
    """Make, reset and step one env; return its action space. Raises ``TaskCheckError``."""
    call = f"gym.make({task.env_id!r})" if isinstance(task.env_id, str) else \
        f"{getattr(task.env_id, '__name__', 'env_id')}()"
    try:
        env = task.make_env()
    except Exception as exc:  # noqa: BLE001
        where = _frame_in_task(task, exc) if not isinstance(task.env_id, str) else None
        raise _fail(task, f"{call} failed: {_exc(exc)}", where or _line_in_file(task, "env_id")) from None
    try:
        for stage in ("reset", "step"):
            if stage == "reset":
                env.reset(seed=0)
            else:
                env.step(env.action_space.sample())
    except Exception as exc:  # noqa: BLE001
        raise _fail(task, f"env.{stage}() of {call} raised {_exc(exc)}",
                    _frame_in_task(task, exc) or _line_in_file(task, "env_id")) from None
    space = env.action_space
    env.close()
    return space


def _check_types(task: Task, states: Any, n: int) -> None:
    """A dict of torch tensors with one row per env; raise ``TaskCheckError`` naming the variable."""
    fn = task.extract_state
    if not isinstance(states, dict):
        raise _fail(task, f"extract_state must return a dict of named torch tensors, got {type(states).__name__}",
                    _line_of(fn, "return"))
    for var in task.state_vars:
        if var.name not in states:
            continue  # reported by state_problems, with the other shape problems
        value = states[var.name]
        if not isinstance(value, torch.Tensor):
            raise _fail(task, f"state variable '{var.name}' must be a torch.Tensor of shape {var.shape}, got "
                              f"{type(value).__name__}", _line_of(fn, f'"{var.name}"', f"'{var.name}'"))


def collect_states(task: Task, n_envs: int = 2, steps: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Roll out random actions through ``extract_state`` (real infos, like training); raises ``TaskCheckError``."""
    from eureka.reward import make_vec_env

    venv = make_vec_env(task, n_envs, seed)
    obs = venv.reset()
    infos: list[dict] = [{} for _ in range(n_envs)]
    batches: dict[str, list[np.ndarray]] = {}
    try:
        for _ in range(steps):
            actions = np.stack([venv.action_space.sample() for _ in range(n_envs)])
            obs_t = torch.as_tensor(obs, dtype=torch.float32)
            try:
                states = task.extract_state(obs_t, torch.as_tensor(actions), infos)
            except Exception as exc:  # noqa: BLE001
                raise _fail(task, f"extract_state raised {_exc(exc)}",
                            _frame_in_task(task, exc) or _line_of(task.extract_state, "def")) from None
            _check_types(task, states, n_envs)
            for k, v in states.items():
                if isinstance(v, torch.Tensor):
                    batches.setdefault(k, []).append(v.detach().cpu().numpy())
            obs, _, _, infos = venv.step(actions)
    finally:
        venv.close()
    return {k: np.concatenate(v, axis=0) if v[0].ndim else np.stack(v) for k, v in batches.items()}


def state_problems(task: Task, states: dict[str, np.ndarray], n: int) -> list[tuple[str, str]]:
    """``(variable, problem)`` for every declared variable whose batch is not as declared."""
    problems = []
    for var in task.state_vars:
        if var.name not in states:
            problems.append((var.name, f"'{var.name}' is declared but not returned"))
            continue
        arr = states[var.name]
        dims = _declared_dims(var.shape)
        if arr.ndim == 0 or arr.shape[0] != n:
            problems.append((var.name, f"'{var.name}' has batch size {arr.shape[0] if arr.ndim else 0}, expected "
                                       f"{n} (one row per env)"))
        elif len(dims) != arr.ndim:
            problems.append((var.name, f"'{var.name}' has shape {list(arr.shape)} but is declared {var.shape}"))
        elif len(dims) == 2 and re.fullmatch(r"\d+", dims[1]) and int(dims[1]) != arr.shape[1]:
            problems.append((var.name, f"'{var.name}' has width {arr.shape[1]} but is declared {var.shape}"))
        if not np.issubdtype(arr.dtype, np.floating):
            problems.append((var.name, f"'{var.name}' has dtype {arr.dtype}, expected float"))
        elif not np.isfinite(arr).all():
            problems.append((var.name, f"'{var.name}' has non-finite values"))
    return problems


def fitness_problem(task: Task, states: dict[str, np.ndarray], n: int) -> str | None:
    """Why ``fitness.step`` does not give one float per env (None when it does)."""
    if task.fitness.reduce not in REDUCES:
        return f"fitness.reduce is '{task.fitness.reduce}'; valid choices: {', '.join(REDUCES)}" \
               f"{did_you_mean(str(task.fitness.reduce), REDUCES)}"
    try:
        fit = task.fitness.step({k: torch.as_tensor(v) for k, v in states.items()})
    except Exception as exc:  # noqa: BLE001
        return f"fitness.step raised {_exc(exc)}"
    if not isinstance(fit, torch.Tensor) or tuple(fit.shape) != (n,) or not fit.is_floating_point():
        got = f"shape {list(fit.shape)}, dtype {fit.dtype}" if isinstance(fit, torch.Tensor) else type(fit).__name__
        return f"fitness.step returned {got}; expected [{n}] float (one value per env)"
    return None


def _hint_line(task: Task, index: int, *needles: str) -> tuple[str, int] | None:
    """The line of the ``index``-th ``Hint(`` of the task file containing one of ``needles`` (else the file's)."""
    if not task.source.endswith(".py"):
        return None
    try:
        lines = Path(task.source).read_text().splitlines()
    except OSError:
        return None
    hits = [i for i, line in enumerate(lines, 1) if "Hint(" in line and any(n in line for n in needles)]
    if hits:
        return task.source, hits[0]
    return _line_in_file(task, "Hint(", "hints")


def hint_problem(task: Task) -> tuple[str, tuple[str, int] | None] | None:
    """``(problem, where)`` of the first hint that names no state variable or no valid goal (None when fine)."""
    names = task.state_names
    for i, hint in enumerate(task.hints):
        var = str(hint.var)
        where = _hint_line(task, i, f'"{var}"', f"'{var}'")
        if hint.goal not in HINT_GOALS:
            return (f"hint for '{var}': goal '{hint.goal}' is not one of {', '.join(HINT_GOALS)}."
                    f"{did_you_mean(str(hint.goal), HINT_GOALS)}", where)
        if hint.goal != "alive" and var not in names:
            return (f"hint variable '{var}' is not a state variable.{did_you_mean(var, names)} "
                    f"(valid: {', '.join(names)})", where)
        if hint.goal == "band" and hint.low is not None and hint.high is not None and hint.low > hint.high:
            return f"hint for '{var}': band low={hint.low} is above high={hint.high}", where
        if hint.goal != "alive" and hint.goal != "band" and not hint.scale > 0:
            return f"hint for '{var}': scale={hint.scale} must be > 0 (the variable's typical size)", where
    return None


_CHECKED: dict[object, gym.Space] = {}


def _identity(task: Task) -> object:
    """What makes a task the same one: its file as it is now (a task file loaded twice is one task), else the object."""
    path = Path(task.source) if task.source.endswith(".py") else None
    if path is not None and path.is_file():
        st = path.stat()
        return task.name, str(path.resolve()), st.st_mtime_ns, st.st_size
    return id(task)


def preflight(task: Task) -> gym.Space:
    """The task's checks minus training, before a search: raise ``TaskCheckError`` (one line) on the first
    problem; return the env's action space. Each task is checked once per process (a task file loaded again,
    unchanged, is the same task)."""
    key = _identity(task)
    if key in _CHECKED:
        return _CHECKED[key]
    hint = hint_problem(task)
    if hint:
        raise _fail(task, *hint)
    space = check_env(task)
    n_envs, steps = 2, 4
    states = collect_states(task, n_envs, steps)
    problems = state_problems(task, states, n_envs * steps)
    if problems:
        var, what = problems[0]
        raise _fail(task, f"state variable {what}",
                    _line_of(task.extract_state, f'"{var}"', f"'{var}'") if var in states else
                    _line_of(task.extract_state, "return"))
    problem = fitness_problem(task, states, n_envs * steps)
    if problem:
        raise _fail(task, problem, _line_of(task.fitness.step, "") if callable(task.fitness.step) else None)
    _CHECKED[key] = space
    return space

