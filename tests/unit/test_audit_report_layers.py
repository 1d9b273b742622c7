"""Who may import whom on the audit and report side, held by import-linter (indirect imports
count): the report reads the audit's JSON, never the audit's code (the audit imports the report
to write report.html, so the other way round would be a cycle); neither imports the edge; the
analysis and the report's data shaping stay pure; computed data never depends on findings."""

from __future__ import annotations

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli")

SHARED = "prefetch_lab.trail | prefetch_lab.stats | prefetch_lab.url_keys | prefetch_lab.prefetch_mechanism | prefetch_lab.formatting"
PURE = """
    prefetch_lab.stats
    prefetch_lab.url_keys
    prefetch_lab.prefetch_mechanism
    prefetch_lab.trail
    prefetch_lab.formatting
    prefetch_lab.audit.analyze
    prefetch_lab.audit.computed
    prefetch_lab.audit.findings
    prefetch_lab.report.data
    prefetch_lab.report.arms
    prefetch_lab.report.cells
    prefetch_lab.report.series
    prefetch_lab.report.tables
    prefetch_lab.report.verdicts
    prefetch_lab.report.waterfall"""

CONTRACTS = f"""
[importlinter]
root_package = prefetch_lab
include_external_packages = True

[importlinter:contract:layers]
name = the audit above the report above the shared modules
type = layers
layers =
    prefetch_lab.audit
    prefetch_lab.report
    {SHARED}

[importlinter:contract:no-edge]
name = the audit and the report never import the edge
type = forbidden
source_modules =
    prefetch_lab.audit
    prefetch_lab.report
forbidden_modules =
    prefetch_lab.edge

[importlinter:contract:pure]
name = the analysis and the report's data shaping are pure
type = forbidden
source_modules = {PURE}
forbidden_modules =
    mitmproxy
    playwright
    plotly
    jinja2

[importlinter:contract:pipeline]
name = computed data never depends on findings
type = forbidden
source_modules =
    prefetch_lab.audit.computed
forbidden_modules =
    prefetch_lab.audit.findings
    prefetch_lab.audit.analyze
"""


def test_audit_and_report_import_only_what_their_layer_allows(tmp_path, capsys):
    config = tmp_path / "contracts.ini"
    config.write_text(CONTRACTS, encoding="utf-8")
    status = importlinter_cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out
