"""Every package the code imports directly is declared in pyproject.toml, in the list of the
install that runs it (mitmproxy brings several today, but what it brings may change):
addon/ runs on `dependencies` plus the `audit` extra, the suite and the benchmarks on
`dependencies` plus the `test` extra. scripts/setup.sh installs these lists.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    requirements = PROJECT["dependencies"] + [r for extra in extras for r in PROJECT["optional-dependencies"][extra]]
    return {normalized(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]) for requirement in requirements}


def local_names() -> set[str]:
    """Top-level names the project itself provides: addon/'s packages, scripts/'s modules, tests."""
    names = {"tests"}
    for folder in (ROOT / "addon", ROOT / "scripts"):
        names |= {path.stem for path in folder.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    return names


def imported(folder: str) -> dict[str, str]:
    """Third-party top-level names imported anywhere under `folder` (in functions too), each with
    one file that imports it."""
    skip = set(sys.stdlib_module_names) | local_names()
    names: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in skip:
                    names.setdefault(top, path.relative_to(ROOT).as_posix())
    return names


def undeclared(folder: str, allowed: set[str]) -> list[str]:
    providers = importlib.metadata.packages_distributions()
    missing = []
    for name, where in sorted(imported(folder).items()):
        distributions = {normalized(d) for d in providers.get(name, ())}
        if not distributions & allowed:
            missing.append(f"{name} (imported by {where}; installed from {sorted(distributions) or 'nothing'})")
    return missing


def test_addon_imports_are_declared_for_the_proxy_and_the_audit():
    missing = undeclared("addon", declared("audit"))
    assert not missing, "not declared in dependencies or the audit extra:\n" + "\n".join(missing)


def test_suite_and_benchmark_imports_are_declared_for_the_tests():
    missing = undeclared("tests", declared("test")) + undeclared("scripts", declared("test"))
    assert not missing, "not declared in dependencies or the test extra:\n" + "\n".join(missing)


def test_the_test_extra_holds_the_audit_extra():
    # The suite drives whole audits; setup.sh installs one list, so test repeats audit's.
    assert declared("audit") <= declared("test")
