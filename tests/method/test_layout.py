"""The package's shape: imports only go downward (no cycle, counting imports inside functions),
nerfstudio is imported only inside the glue subpackage ``point2act.method``, and docs/layout.md lists every
module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "point2act"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(path: Path, name: str, modules: dict[str, Path]):
    """(imported module, line) for every import statement in the file, at any depth."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                yield (sub if sub in modules else mod), node.lineno


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, p in modules.items():
        for target, _ in _imports(p, m, modules):
            if target in modules and target != m:
                graph[m].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        colour[u] = GREY
        stack.append(u)
        for v in sorted(graph[u]):
            if colour[v] == GREY:
                return stack[stack.index(v):] + [v]
            if colour[v] == WHITE:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        colour[u] = BLACK
        return None

    for u in sorted(graph):
        if colour[u] == WHITE:
            found = visit(u)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_point2act_modules():
    graph = _graph()
    assert len(graph) > 40
    assert "point2act.method.run_layer" in graph["point2act.method.viewer.panel"]  # imports inside functions count too
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_nerfstudio_only_in_the_glue_subpackage():
    modules = _modules()
    offenders = []
    for m, p in modules.items():
        if m == "point2act.method" or m.startswith("point2act.method."):
            continue
        for target, line in _imports(p, m, modules):
            if target == "nerfstudio" or target.startswith("nerfstudio."):
                offenders.append(f"{p.relative_to(PKG.parent)}:{line} imports {target}")
    assert not offenders, "\n".join(offenders)
    # and the glue does use it: the rule is not vacuous
    assert any(t.startswith("nerfstudio") for t, _ in _imports(modules["point2act.method.model"], "point2act.method.model", modules))


@pytest.mark.parametrize("name", ["point2act", "point2act.geometry", "point2act.export", "point2act.requery.weights_torch"])
def test_plain_modules_import_without_nerfstudio(name):
    """Importing a plain module in a fresh interpreter loads no nerfstudio module."""
    import subprocess
    import sys

    code = f"import sys, {name}; bad = [m for m in sys.modules if m.startswith('nerfstudio')]; print(bad); sys.exit(bool(bad))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def _documented_modules(text: str) -> set[str]:
    """The module paths docs/layout.md's tree names: an entry is ``name.py`` or ``name/`` at an even indent of at
    most 8 spaces (two per level); deeper lines continue a description."""
    import re

    block = text.split("```", 2)[1]
    stack: list[str] = []
    out: set[str] = set()
    for line in block.splitlines():
        m = re.match(r"^( *)([\w.]+\.py|\w+/)(?=\s|$)", line)
        if not m or len(m.group(1)) > 8 or len(m.group(1)) % 2:
            continue
        level = len(m.group(1)) // 2
        stack = stack[:level]
        if m.group(2).endswith("/"):
            stack.append(m.group(2)[:-1])
        else:
            out.add("/".join(stack + [m.group(2)]))
    return out


def test_layout_lists_every_module():
    """docs/layout.md names every module of the package (packages' ``__init__.py`` aside: the package's line
    describes it), and no module that is gone."""
    root = PKG.parent
    documented = _documented_modules((root / "docs" / "layout.md").read_text())
    have = {str(p.relative_to(root)) for p in PKG.rglob("*.py") if p.name != "__init__.py"}
    documented = {d for d in documented if not d.endswith("/__init__.py")}
    assert not have - documented, f"modules docs/layout.md does not list: {sorted(have - documented)}"
    assert not documented - have, f"docs/layout.md lists modules that do not exist: {sorted(documented - have)}"
