"""Extract the reward code from a free-text LLM answer.

The chosen code is the fenced block that *defines* ``compute_reward`` (the
last such block when the answer revises itself), plus helper functions it
calls that other blocks define. Usage snippets, ``if __name__`` blocks and
other top-level statements are dropped; a standard import header is added.
Answers without fences are handled by parsing the code-looking tail.
"""

from __future__ import annotations

import ast
import re

from eureka.errors import RewardSyntaxError

HEADER = ("import math\nimport numpy as np\nimport torch\n"
          "from typing import Dict, List, Optional, Tuple\n")
HEADER_LINES = HEADER.count("\n")

_FENCE = re.compile(r"(?P<fence>```|~~~)[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)(?:\n[ \t]*(?P=fence)|\Z)",
                    re.DOTALL)
_DEF_REWARD = re.compile(r"^[ \t]*def[ \t]+compute_reward[ \t]*\(", re.MULTILINE)
_CODE_START = re.compile(r"^(import |from |def |@|class |[A-Za-z_][A-Za-z0-9_]* *=)")
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign)


def fenced_blocks(text: str) -> list[str]:
    """All fenced code blocks of ``text`` (an unclosed last fence runs to the end)."""
    return [m.group("body") for m in _FENCE.finditer(text)]


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _unfenced_code(text: str) -> str | None:
    """Best effort for answers without fences: the longest parsable code run around the def."""
    lines = text.splitlines()
    def_idx = next((i for i, ln in enumerate(lines) if _DEF_REWARD.match(ln)), None)
    if def_idx is None:
        return None
    start = def_idx
    for i in range(def_idx - 1, -1, -1):
        if _CODE_START.match(lines[i]) or lines[i].startswith((" ", "\t")) or not lines[i].strip():
            if _CODE_START.match(lines[i]):
                start = i
        else:
            break
    for end in range(len(lines), def_idx, -1):
        code = "\n".join(lines[start:end])
        if _parse(code) is not None:
            return code
    return "\n".join(lines[start:])


def _top_level_functions(tree: ast.Module, code: str) -> dict[str, str]:
    out = {}
    lines = code.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out[node.name] = "\n".join(lines[first - 1:node.end_lineno])
    return out


def _keep_definitions(tree: ast.Module, code: str, helpers: list[str] | None = None) -> str:
    """Keep imports, function definitions and constant assignments; drop usage snippets.

    ``helpers`` (functions from other blocks) go after the leading imports, which they may need.
    """
    lines = code.splitlines()
    kept = []
    pending = list(helpers or [])
    for node in tree.body:
        if not isinstance(node, _KEEP):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "compute_reward"
                for n in ast.walk(node)):
            continue
        first = node.lineno
        if isinstance(node, ast.FunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        if pending and not isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.extend(pending)
            pending = []
        kept.append("\n".join(lines[first - 1:node.end_lineno]))
    return "\n\n".join(kept + pending)


def extract_code(text: str) -> str:
    """Return runnable reward source from an LLM answer, or raise ``RewardSyntaxError``."""
    if not text or not text.strip():
        raise RewardSyntaxError("the answer is empty; it contains no code defining compute_reward")
    blocks = fenced_blocks(text)
    defining = [b for b in blocks if _DEF_REWARD.search(b)]
    if defining:
        code = defining[-1]
    elif blocks and not _DEF_REWARD.search(text):
        raise RewardSyntaxError("no code block defines compute_reward; the answer's code blocks only "
                                "contain other code")
    else:
        unfenced = _unfenced_code(text)
        if unfenced is None:
            raise RewardSyntaxError("the answer contains no Python code defining compute_reward")
        code = unfenced
    code = code.strip("\n")
    tree = _parse(code)
    if tree is None:
        try:
            ast.parse(code)
        except SyntaxError as exc:
            line = exc.lineno
            src = code.splitlines()[line - 1].strip() if line and line <= len(code.splitlines()) else ""
            raise RewardSyntaxError(f"syntax error: {exc.msg} at line {line}: {src!r}",
                                    line=line) from None
    assert tree is not None
    names_used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    defined = set(_top_level_functions(tree, code))
    helpers = []
    for other in blocks:
        if other is code or _DEF_REWARD.search(other):
            continue
        other_tree = _parse(other)
        if other_tree is None:
            continue
        for name, src in _top_level_functions(other_tree, other).items():
            if name in names_used and name not in defined:
                helpers.append(src)
                defined.add(name)
    body = _keep_definitions(tree, code, helpers)
    present = set(body.splitlines())
    header = "".join(line + "\n" for line in HEADER.splitlines() if line not in present)
    return header + "\n" + body.rstrip() + "\n"
