"""scripts/audit URL --out DIR: audit a site in one command (see README "Auditing a site").

The command line around run.Audit: options, a progress bar (rich), and the summary table
and top advice at the end. Exit status: 0 done (every --assert held); 1 a failure (the browser or
a proxy died, an exception); 2 bad usage (argparse); 3 the deadline passed; 4 an --assert failed;
130 interrupted. Once measuring has begun, what was measured is written in every case.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prefetch_lab.audit.findings.advice import top_advice
from prefetch_lab.audit.findings.assertions import junit_xml, parse as parse_assertion
from prefetch_lab.audit.findings.baseline import SCHEMA as BASELINE_SCHEMA
from prefetch_lab.audit.findings.deploy_check import deploy_lines
from prefetch_lab.audit.findings.enough_runs import DEFAULT_MAX_RUNS, DEFAULT_PRECISION, parse_precision
from prefetch_lab.audit.findings.summary_table import (
    SPLIT_AT, baseline_lines, sampling_line, summary_rows, verdict_lines)
from prefetch_lab.rules import speculation_rules
from prefetch_lab.audit.gather.playwright_driver import Moves
from prefetch_lab.audit.gather.netprofile import PROFILES, THROTTLE_CHOICES
from prefetch_lab.audit.gather.devices import DEVICE_CHOICES
from prefetch_lab.audit.run import Audit, Progress as AuditProgress
from prefetch_lab.audit.run_environment import schedule
from prefetch_lab.audit.settings import ARM_OPTIONS, WHAT_IF_ARM, WALKS, AuditSettings
from prefetch_lab.report.arms import soft_headline


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/audit",
        description="Drive headless Chromium through Prefetch Lab over a walk of a site, with and "
                    "without prefetching, and report what prefetching did and what it bought.",
    )
    p.add_argument("url", help="where the walk starts (the site's URL; with --reverse, the origin's)")
    p.add_argument("--out", type=Path, help="output folder (default: audit-<host>/)")
    p.add_argument("--arms", default="control,speculation,edgio",
                   help=f"comma-separated arms from {', '.join(a for a in ARM_OPTIONS if a != 'deployed')} "
                        "(default: %(default)s; the deployed arm comes with --verify-deploy)")
    p.add_argument("--runs", default="3",
                   help="measured runs per arm, or auto: add rounds of runs until every arm's LCP interval is "
                        "within --precision, at most --max-runs (default: 3)")
    p.add_argument("--precision", default=DEFAULT_PRECISION,
                   help="--runs auto: the LCP 95 %% CI half-width that is enough, a share of the control's LCP "
                        "p50 (10%%) or milliseconds (25ms) (default: %(default)s)")
    p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help="--runs auto: the most runs per arm (default: %(default)s)")
    p.add_argument("--pages", type=int, default=10, help="pages per walk, the landing page included (default: 10)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random walk (default: 1)")
    p.add_argument("--path", type=Path, dest="path_file",
                   help="a file of URLs or link texts to follow instead of a random walk, one per line")
    p.add_argument("--walk", choices=WALKS, default=None,
                   help="how the random walk picks a link: skewed (a fixed, seeded popularity per link, so "
                        "walks share popular paths) or uniform (new pages first) (default: skewed with a "
                        "learned arm, else uniform)")
    p.add_argument("--skew", type=float, default=2.0,
                   help="the skewed walk's Zipf exponent: link of rank r weighs 1/r^S (default: %(default)s)")
    p.add_argument("--train", type=int, default=0, metavar="N",
                   help="train the learned arm on N walks of the same walker, other seeds (required with "
                        "the learned arm, refused without it)")
    p.add_argument("--learned-thresholds", default=None,
                   help="the learned rules' bands, e.g. immediate=0.8,prerender=0.5,prefetch=0.2 "
                        "(prefetch_learned_thresholds; default: the proxy's)")
    p.add_argument("--quick", action="store_true", help="1 run, 5 pages")
    p.add_argument("--edge", choices=("warm", "cold"), default="warm",
                   help="warm: a warm-up pass visits the walk's pages before each run; cold: a fresh edge (default: warm)")
    p.add_argument("--origin-delay-ms", type=int, default=0, help="latency added to responses from the origin (default: 0)")
    p.add_argument("--edge-delay-ms", type=int, default=20,
                   help="distance from the browser to the edge, added to every response (default: 20)")
    p.add_argument("--throttle", choices=THROTTLE_CHOICES, default=None,
                   help="the visitor's network, between the browser and the proxy (default: none, or the "
                        "--device preset's): " + "; ".join(f"{name}: {p.describe()}" for name, p in PROFILES.items()))
    p.add_argument("--device", choices=DEVICE_CHOICES, default=None,
                   help="Lighthouse's presets: mobile (4x CPU slowdown, the 4g network, 412x823 at DPR 1.75, a "
                        "phone's user agent) or desktop (no slowdown, 40 ms RTT at 10 Mbps, 1350x940); "
                        "--cpu-slowdown, --throttle and --mobile override their part")
    p.add_argument("--cpu-slowdown", type=float, default=None, metavar="N",
                   help="run the pages' CPU N times slower (DevTools' CPU throttling, 1 to 20; default: 1, "
                        "or the --device preset's)")
    p.add_argument("--no-filmstrip", dest="filmstrip", action="store_false",
                   help="record no filmstrips (a trace with screenshots per navigation, under OUT/frames/)")
    p.add_argument("--mobile", action="store_true", help="a phone's viewport and user agent (Pixel 7)")
    p.add_argument("--eagerness", choices=speculation_rules.EAGERNESS, default="conservative",
                   help="eagerness of the served speculation rules (default: conservative, as Speed Brain)")
    p.add_argument("--rules", default=None, help="rules files or folders for the proxy (default: the project's rules/)")
    p.add_argument("--refusal-status", type=int, default=None,
                   help="status of a refused prefetch in every arm; default: each arm's product's "
                        "(503 Speed Brain for speculation, learned and deployed; 412 Edgio for edgio and both)")
    p.add_argument("--reverse", action="store_true", help="run the proxy as a reverse proxy in front of URL's origin")
    p.add_argument("--insecure-origin", action="store_true",
                   help="accept the origin's self-signed or invalid certificate (mitmproxy's ssl_insecure)")
    p.add_argument("--chromium", help="Chromium binary (default: /usr/bin/chromium, else Playwright's own)")
    p.add_argument("--deadline-min", type=float, default=30, help="stop after this many minutes, keeping what was measured (default: 30)")
    p.add_argument("--assert", dest="assertions", action="append", default=[], metavar="EXPR",
                   help="CI mode, repeatable: a dotted path into summary.<arm>, an operator (<= >= == != < >) "
                        "and a number or word, e.g. speculation.vs_control.lcp_ms.verdict==faster; "
                        "exit status 4 when any fails")
    p.add_argument("--baseline", type=Path, metavar="OLD/audit.json",
                   help="compare each arm with the same arm of an earlier audit (unpaired: Mann-Whitney U)")
    p.add_argument("--verify-deploy", action="store_true",
                   help="after the measured arms, run arm `deployed` with the generated OUT/deploy/ rules and "
                        "speculation rules; report its gain and that no unsafe or uncacheable URL was prefetched")
    p.add_argument("--what-if", dest="what_if", action="append", default=[], metavar="ignore-cookies=NAME,...",
                   help="add an arm that runs the first experiment arm's prefetching with a rule sharing pages "
                        "whatever the visitor's cookies (cache_key_ignore_cookies) and dropping the origin's "
                        "Set-Cookie (remove_origin_response_headers), to see what that would buy; NAME,... are "
                        "the cookies the advice named. Only safe for pages that are the same for every visitor")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write the assertions' outcomes as JUnit XML")
    p.add_argument("--dwell-ms", type=int, default=Moves.dwell_ms, help="time on each page (default: %(default)s)")
    p.add_argument("--hover-ms", type=int, default=Moves.hover_ms, help="pointer over the link before pressing (default: %(default)s)")
    p.add_argument("--press-ms", type=int, default=Moves.press_ms, help="pointer down to up (default: %(default)s)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options, checked (p.error exits with status 2 and the reason)."""
    p = parser()
    args = p.parse_args(argv)
    if urlsplit(args.url).scheme not in ("http", "https") or not urlsplit(args.url).hostname:
        p.error(f"the URL must be http:// or https:// with a host, got {args.url!r}")
    args.arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    unknown = [arm for arm in args.arms if arm not in ARM_OPTIONS]
    if unknown or not args.arms:
        p.error(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(ARM_OPTIONS)}")
    args.ignore_cookies = []
    for what_if in args.what_if:
        kind, _, names = what_if.partition("=")
        args.ignore_cookies += [name.strip() for name in names.split(",") if name.strip()]
        if kind != "ignore-cookies" or not args.ignore_cookies:
            p.error(f"--what-if {what_if!r}: expected ignore-cookies=NAME,... (the cookies' names)")
    if args.ignore_cookies and WHAT_IF_ARM not in args.arms:
        args.arms.append(WHAT_IF_ARM)
    args.runs_auto = args.runs == "auto" and not args.quick
    try:
        args.runs = args.max_runs if args.runs_auto else int(args.runs)
        parse_precision(args.precision)
    except ValueError as e:
        p.error(f"--runs {args.runs!r}: a number or auto" if "invalid literal" in str(e) else str(e))
    if args.quick:
        args.runs, args.pages = 1, 5
    for name in ("runs", "pages", "max_runs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be 1 or more")
    for name in ("origin_delay_ms", "edge_delay_ms", "dwell_ms", "hover_ms", "press_ms"):
        if not 0 <= getattr(args, name) <= 60_000:
            p.error(f"--{name.replace('_', '-')} must be from 0 to 60000")
    if args.refusal_status is not None and not 400 <= args.refusal_status <= 599:
        p.error("--refusal-status must be a 4xx or 5xx status")
    for expression in args.assertions:
        try:
            parse_assertion(expression)
        except ValueError as e:
            p.error(str(e))
    if args.baseline:
        problem = baseline_problem(args.baseline)
        if problem:
            p.error(f"--baseline {args.baseline}: {problem}")
    if args.path_file and not args.path_file.is_file():
        p.error(f"--path {args.path_file}: no such file")
    try:
        settings_from(args).check()
    except ValueError as e:
        p.error(str(e))
    return args


def baseline_problem(path: Path) -> str | None:
    """Why --baseline cannot be read (checked before measuring, not after half an hour)."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError) as e:
        return f"cannot be read ({type(e).__name__})"
    return None if schema == BASELINE_SCHEMA else f"not a {BASELINE_SCHEMA} file (schema {schema!r})"


def settings_from(args: argparse.Namespace) -> AuditSettings:
    host = urlsplit(args.url).hostname or "site"
    extra = {"rules": args.rules} if args.rules else {}
    return AuditSettings(
        url=args.url, out=args.out or Path(f"audit-{host}"), arms=args.arms, runs=args.runs, pages=args.pages,
        seed=args.seed, path_file=args.path_file, edge=args.edge, origin_delay_ms=args.origin_delay_ms,
        edge_delay_ms=args.edge_delay_ms, throttle=args.throttle, mobile=args.mobile, eagerness=args.eagerness,
        refusal_status=args.refusal_status, reverse=args.reverse, insecure_origin=args.insecure_origin,
        chromium=args.chromium, deadline_s=args.deadline_min * 60,
        moves=Moves(dwell_ms=args.dwell_ms, hover_ms=args.hover_ms, press_ms=args.press_ms),
        walk=args.walk, skew=args.skew, train=args.train, learned_thresholds=args.learned_thresholds,
        assertions=args.assertions, runs_auto=args.runs_auto, precision=args.precision, baseline=args.baseline,
        verify_deploy=args.verify_deploy,
        ignore_cookies=getattr(args, "ignore_cookies", []),
        device=args.device, cpu_slowdown=args.cpu_slowdown, filmstrip=args.filmstrip,
        **extra,
    )


def print_summary(console: Console, document: dict) -> None:
    columns, rows = summary_rows(document)
    # Two tables of at most 7 columns (the arm in both): each fits 100 columns.
    for part, (start, end) in enumerate(((0, SPLIT_AT), (SPLIT_AT, len(columns)))):
        title = f"Prefetch Lab audit of {document['url']}" if part == 0 else None
        table = Table(title=title, title_justify="left")
        keep = [0] + list(range(max(start, 1), end))
        for i in keep:
            table.add_column(columns[i], justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*[str(row[i]) for i in keep])
        console.print(table)
    for line in filter(None, [soft_headline(document), sampling_line(document), *verdict_lines(document), *baseline_lines(document)]):
        console.print(("[yellow]" if "fewer than" in line else "") + escape(line))
    advice = top_advice(document, 3)
    # --what-if: its result is always shown, ranked or not
    what_if = top_advice({"advice": [a for a in document.get("advice") or [] if a.get("code") == "what-if-ignore-cookies"]})
    advice += [line for line in what_if if line not in advice]
    if advice:
        console.print("[bold]Top advice[/bold]")
        for line in advice:
            console.print(f"  - {line}")
    if not document.get("complete", True):
        console.print(f"[yellow]incomplete: {document.get('problem')}[/yellow]")


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = settings_from(args)
    console = Console(stderr=True)
    # SIGTERM ends the audit like Ctrl-C: every process it started is stopped.
    signal.signal(signal.SIGTERM, interrupt)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=console.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def phase(text: str) -> None:
            bar.update(task, description=text)
            if not console.is_terminal:
                console.print(text)

        def step(arm: str, run: int, planned) -> None:
            if bar.tasks[0].total is None:
                arms = settings.arms + (["deployed"] if settings.verify_deploy else [])  # it walks the plan too
                bar.update(task, total=len(schedule(arms, settings.runs)) * len(audit.plan))
            bar.update(task, description=f"{arm} · run {run + 1}/{settings.runs} · page {planned.step + 1}/{len(audit.plan)}")
            bar.advance(task)

        audit = Audit(settings, AuditProgress(phase=phase, step=step))
        try:
            document = audit.run()
        except Exception as e:
            console.print(f"[red]audit failed: {type(e).__name__}: {e}[/red]")
            return 1
    # Wide enough for every column when the output is a file or a pipe (the JSON has it all).
    print_summary(Console(width=None if sys.stdout.isatty() else 100), document)
    wrote = [settings.out / "audit.json"] + [path for path in [settings.out / "report.html"] if path.exists()]
    console.print(f"wrote {', '.join(map(str, wrote))} (raw material in {settings.out / 'raw'})")
    for line in deploy_lines(document):
        console.print(escape(line), soft_wrap=True)  # whole lines: scripts read them
    return exit_status(console, document, args.junit)


def exit_status(console: Console, document: dict, junit: Path | None) -> int:
    """An incomplete audit's status first (its assertions rest on part of the runs), then 4 when
    an assertion failed."""
    assertions = document.get("assertions") or []
    for a in assertions:
        console.print(f"{'[green]pass' if a['passed'] else '[red]FAIL'}[/] {escape(a['expression'])}: {escape(a['message'])}")
    if junit:
        junit.write_text(junit_xml(assertions), encoding="utf-8")
    if not document["complete"]:
        problem = document.get("problem") or ""
        return 130 if problem == "interrupted" else 1 if problem.startswith("failed") else 3
    return 4 if any(not a["passed"] for a in assertions) else 0


if __name__ == "__main__":
    sys.exit(main())
