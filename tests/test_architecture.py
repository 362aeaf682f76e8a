"""The layout's two rules, checked on the code itself (docs/architecture.md, "Parts"):

- dependencies point one way: the kernel imports no part; tenants imports only the kernel;
  portal and tls import the kernel and tenants (and not each other); only the modules above
  the parts (`payfacile.app`, `payfacile.cli`, `payfacile.demo`) may import them all;
- no module imports itself back through others: the import graph, with the imports made
  inside functions as well as at the top, has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import payfacile

PACKAGE = Path(payfacile.__file__).parent
PARTS = ("platform", "tenants", "portal", "tls")
MAY_IMPORT = {
    "platform": {"platform"},
    "tenants": {"platform", "tenants"},
    "portal": {"platform", "tenants", "portal"},
    "tls": {"platform", "tenants", "tls"},
}


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (migrations aside: Tortoise writes them)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, source: str, known: Iterable[str]) -> set[str]:
    """The package's modules that `source` imports, wherever the import statement stands."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[:-1]  # a module's own package (no __init__ here)
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {name for name in found if name in known and name != module}


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    return {module: imports_of(module, source, sources) for module, source in sources.items()}


def part_of(module: str) -> str | None:
    """The part a module belongs to, or None above the parts (`payfacile.app` …)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[1] in PARTS else None


def wrong_way_imports(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        part = part_of(module)
        if part is None:
            continue
        for target in sorted(imported):
            target_part = part_of(target)
            if target_part not in MAY_IMPORT[part]:
                problems.append(f"{module} imports {target} ({part} → {target_part or 'top'})")
    return problems


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_path_through(sorted(group), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _path_through(group: list[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A cycle inside `group`, from its first module back to it, for the failure message."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    pending = [start]
    while pending:
        node = pending.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                pending.append(target)
    return group


def the_package_graph() -> dict[str, set[str]]:
    return import_graph({name: path.read_text() for name, path in package_modules().items()})


def test_dependencies_point_one_way() -> None:
    assert wrong_way_imports(the_package_graph()) == []


def test_the_kernel_imports_no_part() -> None:
    graph = the_package_graph()
    kernel = {
        module: imported for module, imported in graph.items() if part_of(module) == "platform"
    }
    assert len(kernel) > 20, "the kernel's modules were not found"
    assert {target for imported in kernel.values() for target in imported} <= set(kernel)


def test_no_module_imports_itself_back() -> None:
    found = cycles(the_package_graph())
    assert found == [], "\n".join(" → ".join(cycle) for cycle in found)


def test_the_graph_holds_function_level_imports() -> None:
    graph = the_package_graph()
    assert "payfacile.app" in graph["payfacile.cli"]  # imported inside the serve command


# The checks themselves, on made-up modules: each must see what it is for.

FAKE = {
    "payfacile.platform.a": "def later():\n    from payfacile.tenants import b\n",
    "payfacile.tenants.b": "from payfacile.platform.a import later\n",
    "payfacile.portal.c": "from payfacile.tls import d\n",
    "payfacile.tls.d": "import payfacile.tenants.b\n",
    "payfacile.app": "from payfacile.portal import c\nfrom payfacile.tls import d\n",
}


def test_a_lazy_import_from_the_kernel_into_a_part_is_caught() -> None:
    problems = wrong_way_imports(import_graph(FAKE))
    assert "payfacile.platform.a imports payfacile.tenants.b (platform → tenants)" in problems
    assert "payfacile.portal.c imports payfacile.tls.d (portal → tls)" in problems
    assert not any(problem.startswith("payfacile.app") for problem in problems)
    assert not any(problem.startswith("payfacile.tls.d") for problem in problems)


def test_a_cycle_through_a_lazy_import_is_caught() -> None:
    assert cycles(import_graph(FAKE)) == [
        ["payfacile.platform.a", "payfacile.tenants.b", "payfacile.platform.a"]
    ]


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("payfacile.portal.x", "from . import y", {"payfacile.portal.y"}),
        ("payfacile.portal.x", "from .y import thing", {"payfacile.portal.y"}),
        ("payfacile.portal.x", "from ..tenants import z", {"payfacile.tenants.z"}),
        ("payfacile.portal.x", "from payfacile.portal.y import thing", {"payfacile.portal.y"}),
        ("payfacile.portal.x", "import payfacile.tenants.z as z", {"payfacile.tenants.z"}),
    ],
)
def test_every_form_of_import_is_read(module: str, source: str, expected: set[str]) -> None:
    known = {"payfacile.portal", "payfacile.portal.y", "payfacile.tenants", "payfacile.tenants.z"}
    assert imports_of(module, source, known) == expected
