"""The audit command, for real: `scripts/audit` against local origins on 127.0.0.1 (a generated
multi-page site, also over https with a self-signed certificate), with real mitmdump processes
and headless Chromium. The JSON is checked against what the origin's own request log and the
proxy trails saw, counted here by hand."""

from __future__ import annotations

import json
import signal
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from prefetch_lab.trail import read_records
from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
from prefetch_lab.audit.gather.playwright_driver import Moves
from prefetch_lab.audit.gather.walk import Step
from prefetch_lab.audit.gather.proxy_process import ProxyProcess
from tests.harness import CHROMIUM, ROOT, Origin, Reply, wait_until
from tests.site import UNSAFE_LINKS, self_signed_tls, site_routes

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

PREFETCH_EVENTS = ("prefetch-hit", "prefetch-refused", "prefetch-forwarded")
ORIGIN_EVENTS = ("cache-store", "cache-bypass", "origin-error")


def run_audit(out: Path, url: str, *args: str, timeout: float = 300) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon")}
    done = subprocess.run(
        [sys.executable, "-m", "prefetch_lab.audit.cli", url, "--out", str(out), "--dwell-ms", "700", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "audit.json").read_text()), done.stdout + done.stderr


def without_edgio(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("edgio_")]
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


def measured(out: Path) -> list[dict]:
    """What the browser measured per (arm, run), with that run's trail beside it."""
    runs = json.loads((out / "raw" / "runs.json").read_text())["runs"]
    for run in runs:
        trail = read_records(out / "raw" / f"{run['arm']}-run{run['run']}.trail.jsonl")
        run["trail"] = [r for r in trail if run["measure_start"] <= r["ts"] <= run["measure_end"]]
    return runs


def hand_count(run: dict) -> dict:
    """Accuracy and coverage the simple way: prefetches are the trail's prefetch records in the
    measured window; a navigation came from a prefetch when Chromium says so (prefetch buffer or
    service worker); a prefetch was used when a later step of the walk went to its URL that way."""
    prefetches = [r for r in run["trail"] if r["event"] in PREFETCH_EVENTS]
    # A prefetch the edge refused and whose client then left (the page moved on) also gets an
    # error record: the origin never saw it.
    edge_answered = {r["flow_id"] for r in run["trail"] if r["event"] in ("prefetch-hit", "prefetch-refused", "synthetic")}
    served = [s for s in run["steps"][1:] if s["page"] and (s["page"]["nav"]["deliveryType"] in
              ("navigational-prefetch", "cache-storage") or (s["page"]["nav"]["activationStart"] or 0) > 0)]
    used = 0
    for step in served:
        earlier = [p for p in prefetches if without_edgio(p["url"]) == without_edgio(step["url"])
                   and p["ts"] < step["started"] + 1 and p["event"] == "prefetch-hit"]
        used += bool(earlier)
    return {"prefetches": len(prefetches), "used": used, "served": len(served),
            "navigations": len(run["steps"]) - 1,
            "prerendered": sum((s["page"]["nav"]["activationStart"] or 0) > 0 for s in served),
            "refused": sum(r["event"] == "prefetch-refused" for r in prefetches),
            "refused_by_reason": dict(Counter(r["reason"] for r in prefetches if r["event"] == "prefetch-refused")),
            "origin_requests": sum((r["event"] in ORIGIN_EVENTS or (r["event"] == "revalidated" and r["status"] == 304))
                                   and r["flow_id"] not in edge_answered for r in run["trail"])}


def origin_agrees(run: dict, site) -> list:
    """The trail's origin answers in the measure window and the origin's own log tell the same
    story: each request the origin received in the window has its answer in the trail (recorded when
    the answer came, so by the window's end), and each answer in the trail was received by the origin
    before it was recorded: possibly just before the window, a request of the warm-up whose answer
    came after the measured session began (a record's `ts` is its answer's time). The origin's log
    entries in the window, returned."""
    start, end = run["measure_start"], run["measure_end"]
    edge_answered = {r["flow_id"] for r in run["trail"] if r["event"] in ("prefetch-hit", "prefetch-refused", "synthetic")}
    answers = [r for r in run["trail"] if (r["event"] in ORIGIN_EVENTS or (r["event"] == "revalidated" and r["status"] == 304))
               and r["flow_id"] not in edge_answered]
    target = lambda url: urlsplit(url)._replace(scheme="", netloc="").geturl()  # noqa: E731
    seen = [r for r in site.seen if start <= r.ts <= end]
    unanswered = Counter(r.path for r in seen) - Counter(target(a["url"]) for a in answers)
    assert not unanswered, (run["arm"], "reached the origin, not in the trail", unanswered)
    received = Counter(r.path for r in site.seen if start - 10 <= r.ts <= end)
    unseen = Counter(target(a["url"]) for a in answers) - received
    assert not unseen, (run["arm"], "in the trail, never received by the origin", unseen)
    return seen


@pytest.fixture(scope="module")
def site():
    with Origin(site_routes(8)) as origin:
        yield origin


@pytest.fixture(scope="module")
def warm_audit(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    # A phone on a mobile network (Lighthouse's slow 4G): the edge is warm, so every arm gets edge
    # hits, and what prefetching buys is the document's trip over that network.
    document, output = run_audit(out, site.base + "/", "--arms", "control,speculation,edgio", "--runs", "1",
                                 "--pages", "4", "--origin-delay-ms", "300", "--throttle", "4g")
    return out, document, output


def test_warm_edge_with_origin_delay_prefetching_buys_lcp(warm_audit):
    out, document, output = warm_audit
    assert document["schema"] == "prefetch-lab-audit/1" and document["complete"]
    assert [s["via"] for s in document["walk"]] == ["start", "link", "link", "link"]
    summary = document["summary"]
    assert set(summary) == {"control", "speculation", "edgio"}
    for arm in ("speculation", "edgio"):
        assert summary[arm]["lcp_ratio"] < 0.7, (arm, summary[arm])
        assert summary[arm]["coverage"] == 1.0, (arm, document["navigations"])
    assert summary["control"]["prefetches"] == 0
    # The terminal summary: one line per arm.
    for arm in ("control", "speculation", "edgio"):
        assert any(line.lstrip("│ ").startswith(arm) for line in output.splitlines()), output


def test_accuracy_coverage_refusals_and_origin_requests_match_a_hand_count(warm_audit, site):
    out, document, _ = warm_audit
    for run in measured(out):
        arm, counted = run["arm"], hand_count(run)
        summary = document["summary"][arm]
        assert summary["prefetches"] == counted["prefetches"], arm
        assert summary["used"] == counted["used"], arm
        assert summary["refused"] == counted["refused"], arm
        assert summary["refused_by_reason"] == counted["refused_by_reason"], arm
        assert summary["coverage"] == round(counted["served"] / counted["navigations"], 4), arm
        if counted["prefetches"]:
            assert summary["accuracy"] == pytest.approx(counted["used"] / counted["prefetches"], abs=1e-4), arm
        # The proxy's count of origin requests is the origin's own.
        assert summary["origin_requests"] == counted["origin_requests"], arm
        seen = origin_agrees(run, site)
        assert not any("edgio_" in r.path for r in seen), "the gate forwards no prefetch"


def test_learned_arm_trained_on_held_out_walks_and_counted_from_the_trail(site, tmp_path):
    out = tmp_path / "learned"
    document, output = run_audit(out, site.base + "/", "--arms", "control,speculation,learned", "--train", "4",
                                 "--runs", "1", "--pages", "4", "--origin-delay-ms", "300")
    assert document["complete"] and document["environment"]["driver"] == "devtools-pipe"
    assert document["settings"]["walk"] == "skewed" and set(document["summary"]) == {"control", "speculation", "learned"}
    training = document["training"]
    assert training["walks"] == 4 and training["seeds"] == [f"train-1-{i}" for i in range(4)]
    assert all(walk[0] == document["walk"][0]["url"] for walk in training["urls"])
    # The training proxy learnt from page views with their Referer; the measured proxy started
    # from a copy and learnt nothing more (its graph file is the copy, untouched).
    graph = (out / "raw" / "traversal.json").read_bytes()
    assert json.loads(graph)["hosts"] and (out / "raw" / "learned-run0.traversal.json").read_bytes() == graph
    [learned_run] = [run for run in measured(out) if run["arm"] == "learned"]
    offers = [r for r in learned_run["trail"] if r["event"] == "learned-rules"]
    assert offers, "the learned proxy served per-page rules"
    for run in measured(out):
        arm, counted = run["arm"], hand_count(run)
        summary = document["summary"][arm]
        assert summary["prefetches"] == counted["prefetches"], arm
        assert summary["used"] == counted["used"], arm
        assert summary["coverage"] == round(counted["served"] / counted["navigations"], 4), arm
        if counted["prefetches"]:
            assert summary["accuracy"] == pytest.approx(counted["used"] / counted["prefetches"], abs=1e-4), arm
        assert summary["prerenders"]["activated"] == counted["prerendered"], arm
        assert summary["origin_requests"] == counted["origin_requests"], arm
        origin_agrees(run, site)
    learned = document["summary"]["learned"]
    assert learned["prerenders"]["offered"] == sum(len(r["prerender"]) for r in offers)
    assert learned["accuracy"] is not None and learned["coverage"] > 0, learned
    assert any(line.lstrip("│ ").startswith("learned") for line in output.splitlines()), output


HTML = {"content-type": "text/html; charset=utf-8"}
# The link starts at the end of a line and wraps onto the next, far apart (line-height 4): the
# centre of its bounding rectangle is on the paragraph, between its two boxes.
WRAPPED_LINK_PAGE = b"""<!doctype html><script type=speculationrules>
{"prerender": [{"source": "list", "urls": ["/next"], "eagerness": "immediate"}]}</script>
<p style="width: 300px; line-height: 4; font: 16px/4 monospace">xxxxxxxxxxxxxxxxxxxxxxxxx <a href="/next">next page, with a long title</a> and more text after it</p>"""


def test_the_devtools_pipe_driver_presses_a_wrapped_link_and_follows_the_prerender_it_activates(tmp_path):
    routes = {"/": Reply(200, HTML, WRAPPED_LINK_PAGE),
              "/next": Reply(200, HTML, b"<!doctype html><h1>next</h1><p>" + b"text " * 200 + b"</p>")}
    with Origin(routes) as origin, ProxyProcess(tmp_path, {"prefetch_inject": "off"}) as proxy:
        browser = CdpBrowser(CHROMIUM, None, "none", False)
        try:
            with browser.session(proxy.address, Moves(dwell_ms=1500)) as session:
                session.walk([Step(0, origin.base + "/", "start"), Step(1, origin.base + "/next", "link")])
        finally:
            browser.close()
        seen = [(r.path, r.headers.get("sec-purpose")) for r in origin.seen if r.path != "/favicon.ico"]
    first, second = session.steps
    assert first["delivery"] == "network" and second["error"] is None, second
    assert second["trigger"] == "link" and second["page"]["url"] == origin.base + "/next"
    # The site's own immediate prerender, activated by the press: the driver followed the tab to it.
    assert second["delivery"] == "prerender" and second["page"]["was_prerendered"]
    assert second["page"]["nav"]["activationStart"] > 0 and second["page"]["lcp"] is not None
    assert second["document"]["status"] == 200
    assert seen == [("/", None), ("/next", "prefetch;prerender")]  # activation fetched nothing more
    statuses = [e["status"] for e in session.preload_events if e["event"] == "prerenderStatusUpdated"]
    assert statuses[-1] == "Success", statuses


def test_the_walk_never_opens_links_that_change_state(warm_audit, site):
    opened = [r.path for r in site.seen]
    assert "/?add-to-cart=5" not in opened and not [p for p in opened if "add-to-cart" in p]
    unsafe_paths = {urlsplit(href).path for href in UNSAFE_LINKS if "?" not in href} | {"/cart/add"}
    assert not [p for p in opened if urlsplit(p).path in unsafe_paths]


def test_raw_material_is_written_beside_the_json(warm_audit):
    out, document, _ = warm_audit
    for arm in ("control", "speculation", "edgio"):
        har = json.loads((out / "raw" / f"{arm}-run0.har").read_text())
        assert har["log"]["entries"], arm
        assert (out / "raw" / f"{arm}-run0.trail.jsonl").stat().st_size > 0
    assert document["raw"]["hars"] == ["control-run0.har", "edgio-run0.har", "speculation-run0.har"]
    report = (out / "report.html").read_text()  # what it shows is tests/e2e/test_report.py's business
    assert report.startswith("<!doctype html>") and document["url"] in report


def test_https_site_with_a_self_signed_certificate_and_a_cold_edge(tmp_path):
    with Origin(site_routes(6), tls=self_signed_tls(tmp_path)) as origin:
        document, _ = run_audit(tmp_path / "out", origin.base + "/", "--arms", "speculation,edgio", "--runs", "1",
                                "--pages", "3", "--edge", "cold", "--insecure-origin")
    navigations = document["navigations"]
    assert len(navigations) == 6 and all(n["ttfb_ms"] is not None for n in navigations)
    assert not document["console_errors"], document["console_errors"]
    # A cold edge refuses every prefetch of a page nobody visited: 412, never forwarded.
    speculation = [p for p in document["prefetches"] if p["arm"] == "speculation" and p["mechanism"] == "speculation"]
    assert speculation and all(p["edge"] == "refused" and p["edge_reason"] == "not-cached" for p in speculation)
    assert document["advice"][0]["code"] == "edge-cold", document["advice"]
    # The Edgio runtime's worker needs a certificate the browser trusts (the proxy's CA, by its
    # SPKI hash): it registered, and its prefetches came from the worker itself.
    edgio = [p for p in document["prefetches"] if p["arm"] == "edgio"]
    trail = list(read_records(tmp_path / "out" / "raw" / "edgio-run0.trail.jsonl"))
    assert any(r["event"] == "synthetic" and "service-worker" in r["url"] for r in trail)
    assert not [r for r in trail if r["event"] == "client-report" and "register" in r.get("detail", "")]
    assert any(p["edge"] == "refused" and p["edge_reason"] == "not-cached" for p in edgio)
    worker_prefetches = [r for r in trail if r["event"] in PREFETCH_EVENTS and r.get("prefetch") == "edgio"
                         and "service-worker" in (r.get("referer") or "")]
    assert edgio and len(worker_prefetches) == len(edgio)


def test_reverse_mode_walks_a_written_path_through_the_proxy_address(site, tmp_path):
    walk = tmp_path / "walk.txt"
    walk.write_text("# press 'Page 1' on the home page, then the link to /page/4 there, then type /page/2\n"
                    "/\nPage 1\n/page/4\n/page/2\n")
    document, _ = run_audit(tmp_path / "out", site.base + "/", "--reverse", "--arms", "speculation", "--runs", "1",
                            "--path", str(walk))
    assert [(s["url"].removeprefix(site.base), s["via"]) for s in document["walk"]] == [
        ("/", "start"), ("/page/1", "link"), ("/page/4", "link"), ("/page/2", "goto")]
    navigations = document["navigations"][:3]
    assert [n["url"] for n in navigations] == [step["url"] for step in document["walk"][:3]]
    assert all(n["url"].startswith(site.base) for n in navigations)  # the site's URLs, not the proxy's
    assert [n["served_from"] for n in navigations] == ["edge", "prefetch", "prefetch"]  # a warm edge


def marked_processes(marker: str) -> list[str]:
    """Processes (mitmdump, Playwright's driver, Chromium) that inherited the test's marker."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            continue
    return found


def start_audit(out: Path, url: str, marker: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon"), "PREFETCH_LAB_TEST_MARK": marker}
    # A foreground audit, as at a terminal: a suite started in the background (`cmd &` in a
    # script) passes SIGINT down ignored, and Python then never raises KeyboardInterrupt.
    return subprocess.Popen([sys.executable, "-m", "prefetch_lab.audit.cli", url, "--out", str(out), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_the_deadline_ends_the_audit_keeps_what_was_measured_and_stops_everything(site, tmp_path):
    marker = f"deadline-{os.getpid()}-{tmp_path.name}"
    audit = start_audit(tmp_path, site.base + "/", marker, "--arms", "control,speculation", "--runs", "2",
                        "--pages", "3", "--dwell-ms", "2000", "--deadline-min", "0.4")
    output, _ = audit.communicate(timeout=120)
    assert audit.returncode == 3, output
    document = json.loads((tmp_path / "audit.json").read_text())
    assert document["complete"] is False and "deadline" in document["problem"]
    assert 0 < len({(n["arm"], n["run"]) for n in document["navigations"]}) < 4  # some runs, not all
    assert "incomplete" in output
    assert marked_processes(marker) == []


def test_ctrl_c_stops_every_process_and_writes_what_was_measured(site, tmp_path):
    import signal

    marker = f"interrupt-{os.getpid()}-{tmp_path.name}"
    audit = start_audit(tmp_path, site.base + "/", marker, "--arms", "control", "--runs", "3", "--pages", "3")
    lines = []
    for line in audit.stdout:
        lines.append(line)
        if "warming the edge" in line:
            break
    assert wait_until(lambda: marked_processes(marker), timeout=30), "the proxy and the browser are running"
    audit.send_signal(signal.SIGINT)
    rest, _ = audit.communicate(timeout=60)
    assert audit.returncode == 130, "".join(lines) + rest
    assert json.loads((tmp_path / "audit.json").read_text())["problem"] == "interrupted"
    assert wait_until(lambda: marked_processes(marker) == [], timeout=30), marked_processes(marker)
