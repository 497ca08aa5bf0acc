"""The package's layering, read from its source: imports flow one way, no private names cross modules.

The README's architecture section draws the data flowing one way (corpus -> model/flops -> train -> batched ->
runs -> fit -> optimal -> plots, with the chapters and notebooks on top). These tests parse every module's
imports (including those inside functions and under ``TYPE_CHECKING``) so that a change which closes a circle,
or reaches for another module's private helper, fails here with the names involved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "distill_scaling"
#: A module longer than this must say why in its docstring, with a sentence starting with this marker.
MAX_LINES = 800
LONG_MARKER = "Why this module is long:"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module named by ``from <...> import``, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> Iterator[tuple[str, str | None, str | None, int]]:
    """(package module, imported name or None, local name bound or None, line) for every import of the
    package in ``module``."""
    path = MODULES[module]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            if not target.startswith("distill_scaling"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:  # `from . import runs`: the module itself
                    yield full, None, alias.asname or alias.name, node.lineno
                else:
                    yield target, alias.name, alias.asname or alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("distill_scaling"):
                    yield alias.name, None, alias.asname, node.lineno


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _, _ in imports(module):
            # Importing `a.b` runs `a/__init__` too, but the package inits import nothing of the package.
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules around it, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def private_imports(module: str) -> list[str]:
    """Private names of another package module that ``module`` imports or reads as an attribute."""
    found = []
    aliases: dict[str, str] = {}  # local name -> package module it is bound to
    for target, name, local, line in imports(module):
        if name is None:
            if local:
                aliases[local] = target
        elif name.startswith("_") and target != module:
            found.append(f"line {line}: from {target} import {name}")
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and aliases[node.value.id] != module
        ):
            found.append(f"line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_the_checks_see_a_planted_circle_and_a_private_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert len(MODULES) > 30 and "distill_scaling.laws" in MODULES


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_modules(module):
    assert private_imports(module) == []


def test_chapter_modules_do_not_import_each_other():
    graph = import_graph()
    crossings = [
        f"{m} -> {t}"
        for m, targets in graph.items()
        for t in targets
        if m.startswith("distill_scaling.chapters.") and t.startswith("distill_scaling.chapters.")
    ]
    assert crossings == []


def test_lower_layers_never_import_the_chapters_or_the_commands_above_them():
    top = (
        "distill_scaling.chapters",
        "distill_scaling.notebook",
        "distill_scaling.book",
        "distill_scaling.fit_command",
        "distill_scaling.cli",
        "distill_scaling.__main__",
    )
    graph = import_graph()
    bad = [
        f"{m} -> {t}"
        for m, targets in graph.items()
        if not m.startswith(top)
        for t in targets
        if t.startswith(top)
    ]
    assert bad == []


#: The training path, in the order data flows (corpus -> model / flops -> train -> runs): each module may
#: import only modules before it.
FLOW = (
    "errors", "paths", "flops", "synthetic", "corpus", "losses", "model", "spec", "prefetch", "train",
    "batched", "store", "runs",
)  # fmt: skip


@pytest.mark.parametrize("module", FLOW)
def test_the_training_path_imports_one_way(module):
    later = {f"distill_scaling.{m}" for m in FLOW[FLOW.index(module) :]}
    wrong = import_graph()[f"distill_scaling.{module}"] & later
    assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_long_module_says_why(module):
    path = MODULES[module]
    n = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert n <= MAX_LINES or LONG_MARKER in doc, (
        f"{module}: {n} lines and no '{LONG_MARKER}' in its docstring"
    )
