"""Load a candidate reward as a module (restricted builtins) and validate what it returns."""

from __future__ import annotations

import ast
import builtins
import itertools
import math
import sys
import traceback
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from eureka.errors import (
    ForbiddenCode,
    NonFiniteReward,
    RewardError,
    RewardMemoryError,
    RewardRuntimeError,
    RewardShapeError,
    RewardSyntaxError,
)
from eureka.sandbox.policy import (
    ALLOWED_MODULES,
    BLOCKED_BUILTINS,
    MAX_COMPONENTS,
    valid_component_name,
)

_counter = itertools.count()

# Eureka-style rewards carry @torch.jit.script. Compiling does not pay for batched rewards on CPU
# (benchmarks/torchscript_reward.py, torch 2.13, 1 thread: scripted calls are 4-9 us faster at 256-2048
# rows, under 7 ms per 200k-step PPO training, against 6-36 ms to compile), and TorchScript is deprecated:
# the decorator is dropped and every reward runs eagerly, as plain torch code (one path, see load_reward).

TORCHSCRIPT_HINT = (
    "TorchScript could not compile the function. Under @torch.jit.script every parameter needs a type "
    "annotation (torch.Tensor), the return annotation must be Tuple[torch.Tensor, Dict[str, torch.Tensor]], "
    "Python floats must not be mixed with ints in one variable, and only torch/math calls are allowed. "
    "Or drop the decorator: it is optional."
)


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    if level or name.split(".")[0] not in ALLOWED_MODULES:
        raise ImportError(f"import of '{name}' is not allowed in a reward")
    return builtins.__import__(name, globals, locals, fromlist, level)


def safe_builtins() -> dict:
    """Builtins for reward modules: no file, eval or introspection functions; imports guarded."""
    table = {k: v for k, v in vars(builtins).items() if k not in BLOCKED_BUILTINS}
    table["__import__"] = _guarded_import
    return table


def _is_torchscript(decorator: ast.expr) -> bool:
    """``@torch.jit.script``, ``@jit.script`` or ``@script`` (also called: ``@torch.jit.script()``)."""
    node = decorator.func if isinstance(decorator, ast.Call) else decorator
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[:1] == ["script"] and parts[1:] in ([], ["jit"], ["jit", "torch"])


def strip_torchscript(code: str, filename: str = "<reward>") -> ast.Module:
    """The syntax tree of ``code`` without its ``@torch.jit.script`` decorators (lines unchanged).

    Eureka-style rewards are decorated; the function itself is plain torch code that runs eagerly.
    Raises ``SyntaxError`` like ``compile``.
    """
    tree = ast.parse(code, filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = [d for d in node.decorator_list if not _is_torchscript(d)]
    return tree


def reward_params(code: str) -> list[str]:
    """Parameter names of ``compute_reward`` in ``code``."""
    tree = ast.parse(code)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward")
    a = func.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]


def _line_in(exc: BaseException, path: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    if line is None and isinstance(exc, SyntaxError):
        line = exc.lineno
    return line


def classify_exception(exc: BaseException, path: Path, during: str) -> RewardError:
    """Turn an exception raised by reward code into a classified ``RewardError``."""
    if isinstance(exc, RewardError):
        return exc
    line = _line_in(exc, path)
    src = ""
    if line:
        try:
            src = f": {path.read_text().splitlines()[line - 1].strip()!r}"
        except (OSError, IndexError):
            src = ""
    where = f" at line {line}{src}" if line else ""
    text = str(exc).strip()
    first = "\n".join(text.splitlines()[:12])
    if isinstance(exc, MemoryError) or "can't allocate memory" in text or "not enough memory" in text \
            or "out of memory" in text.lower():
        return RewardMemoryError(f"{during}: out of memory{where}: {first[:300]}", line)
    if isinstance(exc, (ImportError, PermissionError)):
        return ForbiddenCode(f"{during}: {type(exc).__name__}{where}: {first}", line)
    if isinstance(exc, SyntaxError):
        return RewardSyntaxError(f"{during}: syntax error{where}: {exc.msg}", line)
    in_jit = any(Path(f.filename).parent.name == "jit" and Path(f.filename).parent.parent.name == "torch"
                 for f in traceback.extract_tb(exc.__traceback__))
    if during == "loading" and (type(exc).__module__.startswith("torch.jit") or "torch.jit" in text or in_jit
                                or "TorchScript" in text or "Expected a value of type" in text):
        return RewardSyntaxError(f"TorchScript compilation failed{where}: {first}", line, hint=TORCHSCRIPT_HINT)
    if isinstance(exc, RecursionError):
        return RewardRuntimeError(f"{during}: recursion too deep{where}", line,
                                  hint="Do not use recursion in a reward; use tensor operations.")
    return RewardRuntimeError(f"{during}: {type(exc).__name__}{where}: {first}", line)


TRUST_UNWALLED = False  # tests set this: they load their own rewards in the test process


def load_reward(path: str | Path, trusted: bool = False) -> tuple[Callable, list[str]]:
    """Import the reward file at ``path``; return ``(compute_reward, parameter names)``.

    ``@torch.jit.script`` is accepted and the function runs eagerly (measured, see above): no TorchScript
    deprecation warning, and nothing to change when TorchScript is gone.

    Candidate code is only ever loaded behind the walls (``eureka.sandbox.walls``): in any
    other process this raises, unless the caller vouches for the code (``trusted``).
    """
    from eureka.sandbox.walls import walls_up

    if not (walls_up() or trusted or TRUST_UNWALLED):
        raise RuntimeError("load_reward: refusing to load reward code in a process without walls "
                           "(call eureka.sandbox.walls.apply_walls first)")
    path = Path(path).resolve()
    code = path.read_text()
    name = f"eureka_reward_{next(_counter)}_{path.parent.name}".replace("-", "_")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__dict__["__builtins__"] = safe_builtins()
    sys.modules[name] = module
    try:
        program = compile(strip_torchscript(code, str(path)), str(path), "exec")  # eager: see above
        with warnings.catch_warnings():  # a reward that still calls torch.jit.script itself: no warning for users
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            exec(program, module.__dict__)  # noqa: S102 - behind the walls
    except BaseException as exc:  # noqa: BLE001 - classify everything the candidate raises
        sys.modules.pop(name, None)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise classify_exception(exc, path, "loading") from None
    fn = getattr(module, "compute_reward", None)
    if fn is None:
        raise RewardSyntaxError("module defines no compute_reward")
    return fn, reward_params(code)


def normalize_output(out, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Check a reward's return value; return ``(reward [N] float, components)``."""
    components: dict = {}
    if isinstance(out, (tuple, list)):
        if len(out) == 2 and isinstance(out[1], dict):
            reward, components = out
        elif len(out) == 1:
            reward = out[0]
        else:
            raise RewardShapeError(f"compute_reward returned a {type(out).__name__} of length {len(out)}; "
                                   "return (reward, components_dict)")
    else:
        reward = out
    if not isinstance(reward, torch.Tensor):
        raise RewardShapeError(f"the reward is a {type(reward).__name__}, not a torch.Tensor of shape [{n}]")
    if reward.dim() == 2 and reward.shape[1] == 1 and n != 1:
        raise RewardShapeError(f"the reward has shape {list(reward.shape)}; expected [{n}] "
                               "(squeeze the last dimension)")
    if tuple(reward.shape) != (n,):
        raise RewardShapeError(f"the reward has shape {list(reward.shape)}; expected [{n}] (one value per env)")
    if not reward.is_floating_point():
        raise RewardShapeError(f"the reward has dtype {reward.dtype}; expected a float tensor "
                               "(use .float())")
    checked: dict[str, torch.Tensor] = {}
    if len(components) > MAX_COMPONENTS:
        raise RewardShapeError(f"compute_reward returned {len(components)} components; at most {MAX_COMPONENTS}")
    for key, value in components.items():
        if not valid_component_name(key):
            raise RewardShapeError(f"component name {str(key)[:16]!r}... ({len(str(key))} characters) is not an "
                                   "identifier of at most 64 characters (letters, digits, underscores)")
        if not isinstance(value, torch.Tensor):
            raise RewardShapeError(f"component '{key}' is a {type(value).__name__}, not a tensor of shape [{n}]")
        if tuple(value.shape) != (n,):
            raise RewardShapeError(f"component '{key}' has shape {list(value.shape)}; expected [{n}]")
        checked[key] = value.float()
    if not checked:
        checked = {"total": reward}
    return reward.float(), checked


def check_finite(reward: torch.Tensor, components: dict[str, torch.Tensor], step: int | None = None) -> None:
    """Raise ``NonFiniteReward`` if the reward has NaN or inf values (one reduction in the common case)."""
    if math.isfinite(float(reward.sum(dtype=torch.float64))):
        return
    if not bool(torch.isfinite(reward).all()):
        bad = [k for k, v in components.items() if not bool(torch.isfinite(v).all())]
        n_nan = int(torch.isnan(reward).sum())
        n_inf = int(torch.isinf(reward).sum())
        at = f" at training step {step}" if step is not None else ""
        comp = f"; non-finite components: {', '.join(bad)}" if bad else ""
        raise NonFiniteReward(f"the reward has {n_nan} NaN and {n_inf} inf values out of "
                              f"{reward.numel()}{at}{comp}")


def call_reward(fn: Callable, params: list[str], states: dict[str, torch.Tensor], path: Path,
                step: int | None = None, validate: bool = True,
                finite: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Call the reward on a batch of states; classify anything that goes wrong.

    ``validate=False`` (the training hot path, after the first calls) checks only the
    reward's shape and dtype, not every component again. ``finite=False`` leaves the NaN/inf
    check to the caller (the training wrapper checks the numpy copy it makes anyway, and calls
    ``check_finite`` for the message).
    """
    n = next(iter(states.values())).shape[0]
    try:
        out = fn(**{p: states[p] for p in params if p in states})
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        err = classify_exception(exc, Path(path), "calling compute_reward")
        if step is not None:
            err.message += f" (training step {step})"
        raise err from None
    if not validate and isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor) \
            and out[0].shape == (n,) and out[0].dtype == torch.float32 and isinstance(out[1], dict) and out[1]:
        reward, components = out
    else:
        reward, components = normalize_output(out, n)
    if finite:
        check_finite(reward, components, step)
    return reward, components


def load_candidate(path: str | Path):
    """Load a candidate's reward module: ``(compute_reward, parameter names)``; only behind the walls."""
    return load_reward(path)


WARM_UP_REWARD = """import math
import torch
from typing import Dict, Tuple


def _tolerance(x: torch.Tensor, lower: float, upper: float, margin: float) -> torch.Tensor:
    inside = (x >= lower) & (x <= upper)
    d = torch.where(x < lower, lower - x, x - upper) / margin
    return torch.where(inside, torch.ones_like(x), torch.exp(-0.5 * d ** 2))


@torch.jit.script
def compute_reward(x: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    upright = torch.exp(-(x / 0.2) ** 2) * torch.cos(x) + torch.tanh(torch.abs(v)) * 0.1
    calm = -0.01 * torch.square(v).clamp(max=10.0) - 0.001 * torch.sqrt(v.abs() + 1e-6)
    band = ((x > -0.5) & (x < 0.5)).float() * math.pi / 10.0 + torch.sigmoid(v) * 0.0
    both = torch.minimum(upright, torch.maximum(calm, torch.zeros_like(calm))) + torch.clip(x, -1.0, 1.0).mean()
    total = upright + calm + band + both + torch.norm(torch.stack([x, v], dim=-1), dim=-1) * 0.0
    return total, {"upright": upright, "calm": calm, "band": band, "both": both}
"""


def warm_up(workdir: str, batch: int = 256) -> None:
    """Load and call a reward of our own (typical ops, Eureka style) so lazy imports, caches and this
    process's copy-on-write faults happen before the walls and before any candidate's code loads."""
    import numpy.ma  # noqa: F401 - imported lazily by torch

    path = Path(workdir) / "eureka_warmup.py"
    path.write_text(WARM_UP_REWARD)
    fn, _ = load_reward(path, trusted=True)
    x = torch.linspace(-1.0, 1.0, batch)
    for _ in range(3):  # as the dry run calls a candidate
        fn(x, x * 2.0)
    path.unlink()
