"""The package's shape (issue 13): no import cycle between nbflow's modules, the core
(the manifest, planning, the run folders and records) never imports the edges
(engine, Git, GitHub, reports, the command line), and no module over 500 lines.

Read statically from the source with ``ast``: every ``import`` counts, also one
inside a function or under ``if TYPE_CHECKING:`` — a cycle hidden in a function is
still a cycle. ``from nbflow.a import b`` depends on ``nbflow.a`` and, when ``b`` is
a module, on ``nbflow.a.b``; a package's ``__init__`` is the module named after the
package (``nbflow`` itself for the public API).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nbflow"


def module_files(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every name an import statement of the module may refer to, with its line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source, node.lineno
            for alias in node.names:
                yield f"{source}.{alias.name}", node.lineno


def import_graph(package: Path) -> dict[str, dict[str, str]]:
    """For each module, the package's modules it imports, each with where (file:line)."""
    files = module_files(package)
    graph: dict[str, dict[str, str]] = {name: {} for name in files}
    for name, path in files.items():
        for target, line in imported_names(name, path):
            if target in files and target != name:
                graph[name].setdefault(target, f"{path.relative_to(package.parent)}:{line}")
    return graph


@functools.cache
def nbflow_graph() -> dict[str, dict[str, str]]:
    """nbflow's import graph, read once for all the tests here."""
    return import_graph(PACKAGE)


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str]:
    """One import cycle as ``[a, b, …, a]``, or ``[]`` when there is none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def describe(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    hops = [f"{a} → {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    return "import cycle " + " → ".join(cycle) + ":\n  " + "\n  ".join(hops)


def test_no_import_cycle_between_nbflow_modules() -> None:
    graph = nbflow_graph()
    assert len(graph) > 50  # the package was found
    cycle = find_cycle(graph)
    assert not cycle, describe(cycle, graph)


MAX_LINES = 500  # the hard limit; aim for under 400


def oversized(package: Path, limit: int = MAX_LINES) -> list[str]:
    """``nbflow/x.py: 612 lines`` for each module of ``package`` over ``limit`` lines."""
    counts = {
        p: len(p.read_text(encoding="utf-8").splitlines()) for p in module_files(package).values()
    }
    return [
        f"{path.relative_to(package.parent)}: {count} lines"
        for path, count in sorted(counts.items())
        if count > limit
    ]


def test_no_module_over_500_lines() -> None:
    over = oversized(PACKAGE)
    assert not over, f"modules over {MAX_LINES} lines (split them along a seam):\n  " + "\n  ".join(
        over
    )


def test_the_size_check_names_the_module_and_its_count(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "small.py").write_text("x = 1\n" * MAX_LINES)
    assert oversized(package) == []
    (package / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert oversized(package) == [f"pkg/big.py: {MAX_LINES + 1} lines"]


#: The core, by package or top-level module: what the edges build on, importing none of them.
CORE = ("manifest", "plan", "store", "run_record", "project", "errors", "version", "secrets")
EDGES = ("engine", "git", "github", "report", "cli", "notify", "inject", "scaffold", "schedule")


def test_the_core_never_imports_the_edges() -> None:
    def area(module: str) -> str:
        return module.split(".")[1] if "." in module else ""

    graph = nbflow_graph()
    wrong = [
        f"{module} → {target} ({where})"
        for module, targets in sorted(graph.items())
        if area(module) in CORE
        for target, where in sorted(targets.items())
        if area(target) in EDGES
    ]
    assert not wrong, "the core imports an edge:\n  " + "\n  ".join(wrong)


def test_the_check_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .c import g\n")
    (package / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\n")
    (package / "sub" / "d.py").write_text("if True:\n    from ..a import x\n")
    graph = import_graph(package)
    assert find_cycle(graph) == []
    (package / "sub" / "c.py").write_text("import pkg.a\n")
    cycle = find_cycle(graph := import_graph(package))
    assert cycle == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    assert describe(cycle, graph) == (
        "import cycle pkg.a → pkg.sub.b → pkg.sub.c → pkg.a:\n"
        "  pkg.a → pkg.sub.b (pkg/a.py:1)\n"
        "  pkg.sub.b → pkg.sub.c (pkg/sub/b.py:2)\n"
        "  pkg.sub.c → pkg.a (pkg/sub/c.py:1)"
    )
