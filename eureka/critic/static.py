"""Static checks on a reward's syntax tree, before anything runs."""

from __future__ import annotations

import ast

from eureka.errors import ForbiddenCode, RewardSignatureError, RewardSyntaxError, closest
from eureka.sandbox.policy import (
    ALLOWED_MODULE_ATTRS,
    ALLOWED_MODULES,
    BLOCKED_METHODS,
    FORBIDDEN_NAMES,
    FORMAT_METHODS,
    format_field_problem,
    module_attr_allowed,
    module_path_is_module,
    percent_key_problem,
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


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    """``id(child) -> parent`` for every node of ``tree``."""
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


_USES = [
    ((ast.Assign, ast.AnnAssign, ast.AugAssign), "assigned to a name"),
    ((ast.NamedExpr,), "bound with ':='"),
    ((ast.Call, ast.keyword, ast.Starred), "passed as an argument"),
    ((ast.arguments,), "used as a default argument"),
    ((ast.List, ast.Tuple, ast.Set, ast.Dict), "put in a container"),
    ((ast.Return, ast.Yield, ast.YieldFrom), "returned"),
    ((ast.Lambda,), "returned by a lambda"),
    ((ast.comprehension, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),
     "used in a comprehension"),
    ((ast.IfExp, ast.BoolOp), "chosen by an expression"),
    ((ast.Subscript,), "indexed"),
]


def _how_used(node: ast.AST, parents: dict[int, ast.AST]) -> str:
    """A few words on how a module value is used (for the message)."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.Call) and parent.func is node:
        return "called"
    for types, words in _USES:
        if isinstance(parent, types):
            return words
    return "used as a value"


def _example(module: str, path: str) -> str:
    """One allowed name right below ``module.path`` (for a message), e.g. ``where`` below ``torch``."""
    prefix = path + "." if path else ""
    below = sorted(n[len(prefix):].split(".")[0] for n in ALLOWED_MODULE_ATTRS.get(module, ())
                   if n.startswith(prefix))
    preferred = [n for n in ("where", "pi", "Dict", "relu", "norm") if n in below]
    return (preferred or below or ["x"])[0]


def _module_value_error(name: str, module: str, path: str, node: ast.AST, tree: ast.AST,
                        where: str) -> ForbiddenCode:
    """The refusal of a module (``name`` in the code, ``module.path``) used other than before an attribute."""
    line = getattr(node, "lineno", None)
    parents = _parents(tree)
    return ForbiddenCode(
        f"the module '{name}' is {_how_used(node, parents)}{where}; a module may only be used directly "
        f"before one of its allowed names, as in '{name}.{_example(module, path)}': never stored in a name, "
        f"passed, returned, put in a container or used as a default (to give it a short name, import it "
        f"under one: "
        f"'import {module}{'.' + path if path else ''} as ...')", line)


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

    def at(node: ast.AST) -> str:  # where a refusal points (built only for the message)
        return _where(node, lines)

    aliases = _module_aliases(tree)
    receivers: set[int] = set()  # nodes an attribute is read from (ast.walk visits parents first)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Attribute):
            receivers.add(id(node.value))
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root not in ALLOWED_MODULES:
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{at(node)}; only "
                                        f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
                rest = alias.name.partition(".")[2]
                if rest and not module_attr_allowed(root, rest):
                    raise ForbiddenCode(f"import of '{alias.name}' is not allowed{at(node)}", line)
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if node.level or root not in ALLOWED_MODULES:
                raise ForbiddenCode(f"import from '{node.module}' is not allowed{at(node)}; only "
                                    f"{', '.join(sorted(ALLOWED_MODULES))} may be imported", line)
            rest = (node.module or "").partition(".")[2]
            for a in node.names:
                path = f"{rest}.{a.name}" if rest else a.name
                if a.name == "*" or not module_attr_allowed(root, path):
                    raise ForbiddenCode(f"import of '{a.name}' from '{node.module}' is not "
                                        f"allowed{at(node)}; only tensor math may be imported", line)
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES or node.id.startswith("__"):
                raise ForbiddenCode(f"use of '{node.id}' is not allowed{at(node)}", line)
            if node.id in aliases and isinstance(node.ctx, ast.Load) and id(node) not in receivers:
                raise _module_value_error(node.id, *aliases[node.id], node, tree, at(node))
        elif isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain is not None and chain[0] in aliases and id(node) not in receivers:
                # the outermost link of a chain on a module (its inner links are prefixes of it)
                module, base = aliases[chain[0]]
                path = ".".join(([base] if base else []) + chain[1])
                if not module_attr_allowed(module, path):
                    raise ForbiddenCode(f"'{module}.{path}' is not on the list of what reward code may use "
                                        f"(tensor math){at(node)}", line)
                if module_path_is_module(module, path) and isinstance(node.ctx, ast.Load):
                    name = ".".join([chain[0], *chain[1]])
                    raise _module_value_error(name, module, path, node, tree, at(node))
            if node.attr.startswith("_"):
                raise ForbiddenCode(f"access to private or dunder attribute '.{node.attr}' is not "
                                    f"allowed{at(node)}", line)
            if node.attr in BLOCKED_METHODS:
                raise ForbiddenCode(f"'.{node.attr}' is not allowed in a reward (files, processes, "
                                    f"native code){at(node)}", line)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                raise ForbiddenCode(f"assigning or deleting the attribute '.{node.attr}' is not allowed in a "
                                    f"reward (it could patch torch, numpy or the checks){at(node)}", line)
            if node.attr in FORMAT_METHODS:
                template = node.value.value if isinstance(node.value, ast.Constant) else None
                if not isinstance(template, str):
                    raise ForbiddenCode(f"'.{node.attr}' may only be called on a constant string in a reward "
                                        f"(a template built or passed at run time could walk attributes)"
                                        f"{at(node)}; use an f-string", line)
                problem = format_field_problem(template)
                if problem:
                    raise ForbiddenCode(f"format templates in a reward may only have plain fields such as "
                                        f"{{}}, {{0}} or {{name}}: {problem}{at(node)}", line)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and \
                isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            problem = percent_key_problem(node.left.value)
            if problem:
                raise ForbiddenCode(f"%-format templates in a reward may only use plain keys: "
                                    f"{problem}{at(node)}", line)
        elif isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.Global, ast.Nonlocal)):
            raise ForbiddenCode(f"{type(node).__name__} statements are not allowed in a "
                                f"reward{at(node)}", line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if "__" in text:
                raise ForbiddenCode(f"a string containing '__' is not allowed{at(node)} (strings can be "
                                    "evaluated as code by annotations and format specifications)", line)
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
