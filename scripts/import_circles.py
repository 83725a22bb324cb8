"""Count the import circles among eureka's modules: ``python scripts/import_circles.py`` (exit 1 if any).

An edge ``a -> b`` is an ``import b`` / ``from b import x`` in ``a`` (``b.x`` when ``x`` is a module), at
module level (``--all``: also inside functions); imports under ``if TYPE_CHECKING:`` are not edges (they
never run). A circle is a strongly connected set of two or more modules; each is printed with its edges.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    """``eureka/train/runner.py`` -> ``eureka.train.runner`` (``__init__.py``: the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports(tree: ast.Module, name: str, is_package: bool, modules: set[str], everywhere: bool) -> set[str]:
    """The eureka modules ``tree`` (module ``name``) imports."""
    out: set[str] = set()

    def visit(nodes: list[ast.stmt], top: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking(node):
                visit(node.orelse, top)
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package (or the module's package)
                    pkg = name.split(".") if is_package else name.split(".")[:-1]
                    pkg = pkg[:len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in modules:
                        out.add(sub)
                    elif base in modules:
                        out.add(base)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if everywhere:
                    visit(node.body, False)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], (ast.stmt, ast.excepthandler)):
                    visit([s for h in inner for s in (h.body if isinstance(h, ast.excepthandler) else [h])], top)

    visit(tree.body, True)
    out.discard(name)
    return out


def graph(root: Path = ROOT, everywhere: bool = False) -> dict[str, set[str]]:
    """Module -> the eureka modules it imports."""
    files = {module_name(p, root): p for p in sorted((root / "eureka").rglob("*.py"))}
    modules = set(files)
    return {m: imports(ast.parse(p.read_text()), m, p.name == "__init__.py", modules, everywhere)
            for m, p in files.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="count imports inside functions too")
    args = ap.parse_args(argv)
    edges = graph(everywhere=args.all)
    found = circles(edges)
    for comp in found:
        members = set(comp)
        print(" <-> ".join(comp) + ":  " + "; ".join(f"{a} -> {b}" for a in comp for b in sorted(edges[a] & members)))
    print(f"{len(found)} import circle(s) among {len(edges)} eureka modules"
          + (" (imports inside functions included)" if args.all else " (module-level imports)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
