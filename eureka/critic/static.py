"""Static checks on a reward's syntax tree, before anything runs."""

from __future__ import annotations

import ast

from eureka.errors import ForbiddenCode, RewardSignatureError, RewardSyntaxError, closest
from eureka.sandbox.policy import (
    ALLOWED_MODULE_ATTRS,
    ALLOWED_MODULES,
    BLOCKED_METHODS,
    FORBIDDEN_NAMES,
    module_attr_allowed,
)


def _dotted(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` as ``("a", ["b", "c"])``; None when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, parts[::-1]
    return None


def _module_aliases(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Names bound to modules by imports: ``{"np": ("numpy", ""), "F": ("torch", "nn.functional")}``."""
    aliases: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root, _, rest = a.name.partition(".")
                if a.asname:
                    aliases[a.asname] = (root, rest)
                else:
                    aliases[root] = (root, "")
        elif isinstance(node, ast.ImportFrom) and node.module:
            root, _, rest = node.module.partition(".")
            for a in node.names:
                path = f"{rest}.{a.name}" if rest else a.name
                if root in ALLOWED_MODULES and module_attr_allowed(root, path) and \
                        any(n.startswith(path + ".") for n in ALLOWED_MODULE_ATTRS[root]):
                    aliases[a.asname or a.name] = (root, path)  # a submodule, e.g. from torch import nn
    return aliases


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
    aliases = _module_aliases(tree)
    inner: set[int] = set()
    for node in ast.walk(tree):
        where = _where(node, lines)
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root not in ALLOWED_MODULES:
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{where}; only "
                                        f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
                rest = alias.name.partition(".")[2]
                if rest and not module_attr_allowed(root, rest):
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{where}", line)
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if node.level or root not in ALLOWED_MODULES:
                raise ForbiddenCode(f"import from '{node.module}' is not allowed{where}; only "
                                    f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
            rest = (node.module or "").partition(".")[2]
            for a in node.names:
                path = f"{rest}.{a.name}" if rest else a.name
                if a.name == "*" or not module_attr_allowed(root, path):
                    raise ForbiddenCode(f"import of '{a.name}' from '{node.module}' is not allowed{where}; "
                                        "only tensor math may be imported", line)
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES or node.id.startswith("__"):
                raise ForbiddenCode(f"use of '{node.id}' is not allowed{where}", line)
        elif isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain is not None and chain[0] in aliases and id(node) not in inner:
                module, base = aliases[chain[0]]
                path = ".".join(([base] if base else []) + chain[1])
                if not module_attr_allowed(module, path):
                    raise ForbiddenCode(f"'{module}.{path}' is not on the list of what reward code may use "
                                        f"(tensor math){where}", line)
                n = node.value
                while isinstance(n, ast.Attribute):  # the inner links of this chain are checked with it
                    inner.add(id(n))
                    n = n.value
            if node.attr.startswith("_"):
                raise ForbiddenCode(f"access to private or dunder attribute '.{node.attr}' is not "
                                    f"allowed{where}", line)
            if node.attr in BLOCKED_METHODS:
                raise ForbiddenCode(f"'.{node.attr}' is not allowed in a reward (files, processes, "
                                    f"native code){where}", line)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                raise ForbiddenCode(f"assigning or deleting the attribute '.{node.attr}' is not allowed in a "
                                    f"reward (it could patch torch, numpy or the checks){where}", line)
        elif isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.Global, ast.Nonlocal)):
            raise ForbiddenCode(f"{type(node).__name__} statements are not allowed in a reward{where}", line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if "__" in text:
                raise ForbiddenCode(f"a string containing '__' is not allowed{where} (strings can be evaluated "
                                    "as code by annotations and format specifications)", line)
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
