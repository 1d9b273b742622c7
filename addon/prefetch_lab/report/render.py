"""The report: one self-contained HTML file that shows what prefetching did (issue 11).

    scripts/report OUT/audit.json -o report.html     # an audit (raw/ beside it gives the waterfalls)
    scripts/report trail.jsonl -o report.html        # a manual session's proxy trail alone

Everything is inlined, so the file opens offline: the content rendered by Jinja2 (tables and
sentences readable without JavaScript), the chart figures as JSON, and Plotly's own plotly.min.js
as shipped in the PyPI package, gzip-compressed and base64-encoded (4.8 MB → about 2 MB),
decompressed by the browser's DecompressionStream when the page opens.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import plotly
from markupsafe import Markup

from prefetch_lab import __version__
from prefetch_lab import trail
from prefetch_lab.report import charts as reportcharts
from prefetch_lab.report import compare as reportcompare
from prefetch_lab.report import data as reportdata
from prefetch_lab.report import deploy_view as reportdeploy
from prefetch_lab.report import filmstrip as reportfilmstrip
from prefetch_lab.report import trail_view as reporttrail

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
AUDIT_SCHEMA = "prefetch-lab-audit/1"


def script_json(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">, escaped as Lighthouse does: "<" as
    \\u003c (no "</script>" or "<!--" can end or confuse the element), U+2028/U+2029 as escapes."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


@lru_cache(maxsize=1)
def plotly_js_gzip_base64() -> str:
    return base64.b64encode(gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=9, mtime=0)).decode("ascii")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["script_json"] = script_json
    return env


def render(view: dict, charts: list[dict]) -> str:
    payload = {"template": reportcharts.shared_template(), "config": reportcharts.CONFIG, "charts": charts}
    return environment().get_template("report.html.j2").render(
        view=view, charts={c["id"]: c for c in charts}, payload=payload,
        plotly_js=plotly_js_gzip_base64(), plotly_version=plotly.__version__, version=__version__)


def read_runs(raw_dir: Path | None) -> list[dict] | None:
    """raw/runs.json's runs (what the browser measured), or None when there is none."""
    path = raw_dir / "runs.json" if raw_dir else None
    if not path or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("runs") or []


def render_report(audit: dict, raw_dir: Path | None) -> str:
    """The HTML report of an audit (`prefetch-lab-audit/1`); raw_dir is the audit's raw/ folder
    (its runs.json gives the per-page waterfalls; without it the waterfall is left out)."""
    if audit.get("schema") != AUDIT_SCHEMA:
        raise ValueError(f"not a {AUDIT_SCHEMA} document (schema {audit.get('schema')!r})")
    view = reportdata.audit_view(audit, read_runs(raw_dir))
    view["deploy"] = reportdeploy.deploy_view(audit, read_deploy_files(raw_dir.parent / "deploy" if raw_dir else None))
    # The compare view reads the frames under OUT (raw/'s parent): embedded, the file stays self-contained.
    view["filmstrips"] = reportfilmstrip.filmstrip_view(audit, raw_dir.parent if raw_dir else None)
    view["series"]["visual_progress"] = reportfilmstrip.progress_series(view["filmstrips"])
    return render(view, reportcharts.audit_charts(view["series"]))


def read_deploy_files(deploy_dir: Path | None) -> dict[str, str]:
    """OUT/deploy/'s generated files by name (those that exist), for the report's copy boxes."""
    if not deploy_dir or not deploy_dir.is_dir():
        return {}
    return {name: (deploy_dir / name).read_text(encoding="utf-8") for name in reportdeploy.DEPLOY_FILES
            if (deploy_dir / name).is_file()}


def write_report(audit: dict, out_dir: Path) -> Path:
    """OUT/report.html beside OUT/audit.json (the audit command calls this after writing the JSON)."""
    path = Path(out_dir) / "report.html"
    write_text(path, render_report(audit, Path(out_dir) / "raw"))
    return path


def render_trail_report(records: list[dict], source: str) -> str:
    """The HTML report of a manual session: the proxy trail alone, no A/B comparison."""
    view = reporttrail.trail_view(records, source)
    return render(view, reporttrail.trail_charts(view["series"]))


def render_compare(old_path: Path, new_path: Path) -> str:
    """Two audits side by side (old, new)."""
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in (old_path, new_path)]
    for path, document in zip((old_path, new_path), documents):
        if not isinstance(document, dict) or document.get("schema") != AUDIT_SCHEMA:
            raise ValueError(f"{path}: not a {AUDIT_SCHEMA} file")
    view = reportcompare.compare_view(*documents, str(old_path), str(new_path))
    forest = reportcharts.forest_chart(view["series"]["forest"], caption=reportcharts.BASELINE_FOREST_CAPTION)
    return render(view, [forest] if forest else [])


def write_text(path: Path, text: str) -> None:
    """Atomically: a browser reloading the report never reads half a file."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def render_file(source: Path, raw_dir: Path | None = None) -> str:
    """An audit.json or a trail (.jsonl) → HTML, told apart by content (a trail is JSON lines)."""
    text = source.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict) and "schema" in document:
        return render_report(document, raw_dir or source.parent / "raw")
    records = list(trail.read_records(source))
    if not records:
        raise ValueError(f"{source}: neither a {AUDIT_SCHEMA} file nor a proxy trail with records")
    return render_trail_report(records, source.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/report", description=(
        "Render Prefetch Lab's self-contained HTML report from an audit's audit.json, or from a "
        "proxy trail (prefetch_audit_file) of a session browsed by hand."))
    p.add_argument("source", type=Path, help="OUT/audit.json (scripts/audit) or a trail .jsonl")
    p.add_argument("new", type=Path, nargs="?",
                   help="a second audit.json: render OLD (source) and NEW side by side")
    p.add_argument("-o", "--output", type=Path, help="the HTML file to write (default: report.html beside the source)")
    p.add_argument("--raw", type=Path, help="the audit's raw/ folder (default: raw/ beside audit.json)")
    args = p.parse_args(argv)
    for path in filter(None, (args.source, args.new)):
        if not path.is_file():
            p.error(f"{path}: no such file")
    output = args.output or (args.new or args.source).with_name("compare.html" if args.new else "report.html")
    try:
        html = render_compare(args.source, args.new) if args.new else render_file(args.source, args.raw)
    except (ValueError, OSError) as e:
        print(f"scripts/report: {e}", file=sys.stderr)
        return 1
    write_text(output, html)
    print(f"wrote {output} ({len(html.encode('utf-8')):,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
