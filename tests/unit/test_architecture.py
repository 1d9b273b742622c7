"""The house's shape, held by the suite: who may import whom (pyproject.toml's
[tool.importlinter] contracts, one test each), no import cycle anywhere in the package, and no
file in addon/ over 500 lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addon"
PACKAGE = "prefetch_lab"
MAX_LINES = 500

CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
# import-linter's own command line (its report names each illegal import with its line); run from
# the repository root, where it finds pyproject.toml.
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


@pytest.mark.parametrize("contract", [contract["id"] for contract in CONTRACTS])
def test_import_contract(contract):
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ADDON), *([path] if path else [])]), "COLUMNS": "160"}
    run = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--contract", contract],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    if run.returncode != 0:
        report = run.stdout + run.stderr
        # The broken contract's chains, without the logo and the summary above them.
        start = report.find("Broken contracts")
        pytest.fail(report[start:] if start >= 0 else report, pytrace=False)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return components


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """The imports inside a cycle, importer line by line."""
    members = set(component)
    lines = [f"import cycle among {len(component)} modules:"]
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            at = ", ".join(f"l.{detail['line_number']}" for detail in details)
            lines.append(f"  {importer} -> {imported} ({at})")
    return "\n".join(lines)


def test_no_import_cycle_in_the_package():
    # Every import grimp sees counts: those under `if TYPE_CHECKING:` (a stage naming the edge's
    # types depends on the edge as much as one calling it: the types belong where both can import
    # them) and those inside functions (an import moved into a function to dodge an import-time
    # cycle keeps the cycle).
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    cycles = strongly_connected(graph)
    if cycles:
        pytest.fail("\n\n".join(describe(graph, component) for component in cycles), pytrace=False)


def test_no_file_in_addon_over_500_lines():
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_bytes().splitlines())
        for path in sorted(ADDON.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    over = [f"{path}: {lines} lines" for path, lines in sizes.items() if lines > MAX_LINES]
    if over:
        pytest.fail(f"over {MAX_LINES} lines (split by concern):\n" + "\n".join(over), pytrace=False)
