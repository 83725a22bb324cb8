"""Static checks on a reward's syntax tree, before anything runs."""

from __future__ import annotations

import ast

from eureka.errors import ForbiddenCode, RewardSignatureError, RewardSyntaxError, closest

ALLOWED_MODULES = frozenset({"torch", "math", "typing", "numpy"})
FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "input", "breakpoint", "exit", "quit", "help", "memoryview", "__builtins__", "__loader__",
    "__spec__", "object", "type", "super", "classmethod", "staticmethod", "property", "dir",
})
# Attribute names that reach files, processes, native code or the interpreter's internals.
FORBIDDEN_ATTRS = frozenset({
    "save", "load", "tofile", "fromfile", "savetxt", "loadtxt", "genfromtxt", "savez", "savez_compressed",
    "memmap", "from_file", "open", "hub", "multiprocessing", "distributed", "package", "ctypeslib",
    "ops", "classes", "utils", "system", "popen", "spawn", "fork", "compile", "library", "testing",
    "DataSource", "f2py", "lib", "backends", "cuda_sleep", "storage", "untyped_storage", "from_buffer",
    "frombuffer", "load_library", "cpp", "profiler", "onnx", "export", "serialization", "overrides",
    "_dynamo", "sleep", "os", "sys", "builtins", "fromregex", "fromtextfile",
    # Frame and code objects (reachable from generators) lead to the caller's real builtins and globals.
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_back", "f_globals",
    "f_builtins", "f_locals", "f_code", "tb_frame",
})


def _where(node: ast.AST, lines: list[str]) -> str:
    line = getattr(node, "lineno", None)
    if not line:
        return ""
    return f" (line {line}: {lines[line - 1].strip()!r})"


def check_static(code: str, state_names: list[str]) -> ast.FunctionDef:
    """Raise a ``RewardError`` subclass if ``code`` is not an acceptable reward; return its def."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise RewardSyntaxError(f"syntax error: {exc.msg} at line {exc.lineno}", line=exc.lineno) from None
    lines = code.splitlines()
    for node in ast.walk(tree):
        where = _where(node, lines)
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root not in ALLOWED_MODULES:
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{where}; only "
                                        f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
                if any(part in FORBIDDEN_ATTRS or part.startswith("_") for part in alias.name.split(".")[1:]):
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{where}", line)
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if node.level or root not in ALLOWED_MODULES:
                raise ForbiddenCode(f"import from '{node.module}' is not allowed{where}; only "
                                    f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
            for part in (node.module or "").split(".")[1:] + [a.name for a in node.names]:
                if part in FORBIDDEN_ATTRS or part.startswith("_") or part == "*":
                    raise ForbiddenCode(f"import of '{part}' from '{node.module}' is not allowed{where}", line)
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES or node.id.startswith("__"):
                raise ForbiddenCode(f"use of '{node.id}' is not allowed{where}", line)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ForbiddenCode(f"access to private or dunder attribute '.{node.attr}' is not "
                                    f"allowed{where}", line)
            if node.attr in FORBIDDEN_ATTRS:
                raise ForbiddenCode(f"'.{node.attr}' is not allowed in a reward (files, processes, "
                                    f"native code){where}", line)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                raise ForbiddenCode(f"assigning or deleting the attribute '.{node.attr}' is not allowed in a "
                                    f"reward (it could patch torch, numpy or the checks){where}", line)
        elif isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.Global, ast.Nonlocal)):
            raise ForbiddenCode(f"{type(node).__name__} statements are not allowed in a reward{where}", line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("__") and node.value.endswith("__"):
                raise ForbiddenCode(f"the dunder string {node.value!r} is not allowed{where}", line)
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"), None)
    if func is None:
        raise RewardSignatureError("no top-level function named compute_reward is defined")
    check_signature(func, state_names)
    if not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(func)):
        raise RewardSignatureError("compute_reward never returns a value; return (reward, components)",
                                   func.lineno)
    return func


def check_signature(func: ast.FunctionDef, state_names: list[str]) -> None:
    """Parameters must be state variable names (others need a default)."""
    args = func.args
    if args.vararg or args.kwarg:
        raise RewardSignatureError("compute_reward must not take *args or **kwargs; name each state "
                                   f"variable it uses. Valid names: {', '.join(state_names)}", func.lineno)
    params = args.posonlyargs + args.args + args.kwonlyargs
    n_defaults = len(args.defaults)
    positional = args.posonlyargs + args.args
    with_default = {a.arg for a in positional[len(positional) - n_defaults:]} if n_defaults else set()
    with_default |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    if not params:
        raise RewardSignatureError("compute_reward takes no parameters; it must take state variables "
                                   f"by name. Valid names: {', '.join(state_names)}", func.lineno)
    for p in params:
        if p.arg not in state_names and p.arg not in with_default:
            match = closest(p.arg, state_names)
            hint = f" Closest match: '{match}'." if match else ""
            raise RewardSignatureError(
                f"compute_reward parameter '{p.arg}' (line {func.lineno}) is not a state variable. "
                f"Valid names: {', '.join(state_names)}.{hint}", func.lineno)
