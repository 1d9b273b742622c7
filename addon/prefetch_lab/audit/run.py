"""One audit, control against experiment: plan a walk once, then measure it in every arm and
run, each (arm, run) behind a fresh proxy (same edge state for all) and a fresh browser profile,
arms interleaved run by run (A B C, B C A, ...) so drift on a noisy machine hits them alike.

Writes OUT/audit.json (the measurements and results, docs/audit-json.md), OUT/report.html (the
same as one self-contained page: report/render.py), and beside them the raw
material: OUT/raw/<arm>-run<N>.trail.jsonl (the proxy's audit trail), .har (mitmproxy's savehar)
and .mitmdump.log, plus OUT/raw/runs.json (what the browser measured, for re-analysis).

A `learned` arm is trained first (`--train N`): N walks of the same seeded walker as the
measured walk, with other seeds (held out), through a training proxy that learns and does not
speculate (a prefetched or prerendered navigation never reaches the edge, so it could not be
counted), writing OUT/raw/traversal.json. Every measured `learned` proxy starts from its own copy
(OUT/raw/learned-run<N>.traversal.json) with learning off, so each run starts from the same
trained graph and no run learns the walk it is measured on. Such an audit drives every arm with
the DevTools-pipe driver (gather/cdp_driver.py), the only one under which Chromium prerenders.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from prefetch_lab import trail
from prefetch_lab.audit.analyze import analyze
from prefetch_lab.audit.computed.link_facts import collect_links, responses_from
from prefetch_lab.audit.findings.assertions import evaluate_all
from prefetch_lab.audit.findings.baseline import compare_with_baseline
from prefetch_lab.audit.findings.deploy_check import deploy_check
from prefetch_lab.audit.findings.cookies import what_if_advice, what_if_result
from prefetch_lab.audit.findings.enough_runs import sampling
from prefetch_lab.audit.findings.soft_navigations import deploy_notes
from prefetch_lab.report import render as report
from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
from prefetch_lab.audit.gather.cdp_pipe import CdpError
from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, find_chromium
from prefetch_lab.audit.gather.walk import (
    OpenedPage,
    SkewedChoice,
    Step,
    WalkPolicy,
    parse_path_file,
    plan_from_path,
    plan_random_walk,
    training_seed,
    uniform_choice,
)
from prefetch_lab.audit.gather.proxy_process import ProxyProcess
from prefetch_lab.audit.gather.trace_frames import FrameFolder
from prefetch_lab.audit.run_environment import ca_spki, environment, network_description, schedule, write_json
from prefetch_lab.audit.settings import (
    ARM_OPTIONS,
    DEFAULT_RULES,
    DEPLOYED_ARM,
    WHAT_IF_ARM,
    LEARNED_ARM,
    SCHEMA,
    TRAINING_MOVES,
    TRAINING_VISITOR_HEADER,
    AuditSettings,
    what_if_rules,
)
from prefetch_lab.deploy.deployment import build_deployment
from prefetch_lab.deploy.site_rules import choose_eagerness
from prefetch_lab.rules.rule_file import load_rules
from prefetch_lab.rules.rule_source import RuleSource

logger = logging.getLogger(__name__)

class AuditAborted(RuntimeError):
    """The deadline passed: what was measured so far is written, marked incomplete."""


@dataclass
class Progress:
    """What the command line shows while it works (no-ops by default)."""

    phase: Callable[[str], None] = lambda text: None
    step: Callable[[str, int, Step], None] = lambda arm, run, step: None


class Audit:
    def __init__(self, settings: AuditSettings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.progress = progress or Progress()
        self.raw = settings.out / "raw"
        self.deadline = time.monotonic() + settings.deadline_s
        self.runs: list[dict] = []
        self.console_errors: list[dict] = []
        self.training: dict | None = None
        self.sampling: dict | None = None  # --runs auto: the last round's check
        self._proxies: list[ProxyProcess] = []
        self.page_links: list[dict] = []  # every link of every page planning and training opened (deploy/)
        self.rule_sets: list = []  # the rules the walk obeys: the deployment's lint names them
        self.built_deployment: dict | None = None  # --verify-deploy: the files the deployed arm measured

    @property
    def uses_cdp(self) -> bool:
        """Chromium prerenders only without Playwright attached: the learned arm needs the
        DevTools-pipe driver, and then every arm gets it, so arms differ only in the proxy."""
        return LEARNED_ARM in self.settings.arms

    @property
    def traversal_file(self) -> Path:
        return self.raw / "traversal.json"

    def chooser(self):
        s = self.settings
        return SkewedChoice(s.seed, s.skew) if s.walk_kind == "skewed" else uniform_choice

    # ---- the proxies ---------------------------------------------------------------------

    def proxy_options(self, arm: str | None, name: str) -> dict[str, str]:
        s = self.settings
        options = {
            "prefetch_rules": s.rules,
            "prefetch_eagerness": s.eagerness,
            "prefetch_refusal_status": str(s.refusal_status_of(arm)),
            **(ARM_OPTIONS[arm] if arm else ARM_OPTIONS["control"]),
        }
        if arm:  # the measured proxies: distance emulated, everything recorded
            options.update(
                prefetch_edge_delay_ms=str(s.edge_delay_ms),
                prefetch_origin_delay_ms=str(s.origin_delay_ms),
                prefetch_audit_file=str(self.raw / f"{name}.trail.jsonl"),
                hardump=str(self.raw / f"{name}.har"),
            )
        if name == "plan":  # what the planning pass fetched, for the deployment's lint (named apart from the runs')
            options.update(prefetch_audit_file=str(self.raw / "plan-trail.jsonl"), hardump=str(self.raw / "plan-har.json"))
        if name == "train":  # learns, from nothing (the graph file was removed), and records what it saw
            options.update(prefetch_learn="true", prefetch_traversal_file=str(self.traversal_file),
                           prefetch_audit_file=str(self.raw / "train.trail.jsonl"),
                           prefetch_learn_visitor_header=TRAINING_VISITOR_HEADER)
        if arm == LEARNED_ARM:  # its own copy of the trained graph, kept as it was: no learning
            options.update(prefetch_traversal_file=str(self.raw / f"{name}.traversal.json"), prefetch_learn="false")
        if arm == LEARNED_ARM or name == "train":
            if s.learned_thresholds:
                options["prefetch_learned_thresholds"] = s.learned_thresholds
        if arm == DEPLOYED_ARM and self.built_deployment:  # the generated files, as they were written
            options.update(prefetch_rules=str(s.out / "deploy" / "prefetch-rules.yaml"),
                           prefetch_eagerness=self.built_deployment["deploy"]["eagerness"]["value"])
        if arm == WHAT_IF_ARM:
            options.update(self.what_if_options())
        if s.insecure_origin:
            options["ssl_insecure"] = "true"
        return options

    def what_if_options(self) -> dict[str, str]:
        """The ignore-cookies arm: its base arm's options, and the audit's rules plus one file."""
        s = self.settings
        rules_file = self.raw / "what-if-ignore-cookies.yaml"
        rules_file.write_text(what_if_rules(s.ignore_cookies), encoding="utf-8")
        rules = str(rules_file) if s.rules.strip().lower() in ("", "none") else f"{s.rules},{rules_file}"
        return {**ARM_OPTIONS[s.what_if_base], "prefetch_rules": rules}

    def start_proxy(self, arm: str | None, name: str) -> ProxyProcess:
        extra = [f"--mode=reverse:{self.site_origin}"] if self.settings.reverse else []
        proxy = ProxyProcess(self.confdir, self.proxy_options(arm, name), extra_args=extra,
                             log_file=self.raw / f"{name}.mitmdump.log")
        self._proxies.append(proxy)
        return proxy

    def stop_proxy(self, proxy: ProxyProcess) -> None:
        proxy.stop()
        self._proxies.remove(proxy)

    @property
    def site_origin(self) -> str:
        parts = urlsplit(self.settings.url)
        return f"{parts.scheme}://{parts.netloc}"

    def site_url(self, proxy: ProxyProcess, url: str) -> str:
        """In reverse mode the browser talks to the proxy's own address."""
        if self.settings.reverse and url.startswith(self.site_origin):
            return proxy.address + url[len(self.site_origin):]
        return url

    def site_path(self, proxy: ProxyProcess, url: str) -> str:
        """The walk is kept in the site's own URLs, whatever proxy address a run used."""
        if self.settings.reverse and url.startswith(proxy.address):
            return self.site_origin + url[len(proxy.address):]
        return url

    # ---- the audit -----------------------------------------------------------------------

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise AuditAborted(f"the audit's deadline ({self.settings.deadline_s:.0f} s) passed")

    def run(self) -> dict:
        s = self.settings
        s.check()
        self.raw.mkdir(parents=True, exist_ok=True)
        policy = WalkPolicy([load_rules([DEFAULT_RULES]), RuleSource.parse(s.rules).load()])
        self.rule_sets = list(policy.rule_sets)
        path_entries = parse_path_file(s.path_file.read_text(encoding="utf-8")) if s.path_file else None
        # A CA of this run's own (never the user's ~/.mitmproxy), trusted by this run's browser.
        self.confdir = Path(tempfile.mkdtemp(prefix="prefetch-lab-ca-"))
        browser = None
        complete, problem = True, None
        try:
            self.progress.phase("planning the walk")
            planner = self.start_proxy(None, "plan")
            driver = CdpBrowser if self.uses_cdp else AuditBrowser
            browser = driver(find_chromium(s.chromium), ca_spki(self.confdir), s.throttle, s.mobile,
                             device=s.device, cpu_slowdown=s.cpu_slowdown)
            self.chromium_version = browser.version
            self.emulation = browser.emulation()
            self.plan = self.plan_walk(browser, planner, policy, path_entries)
            self.stop_proxy(planner)
            if s.train:
                self.train(browser, policy)
            for index, (run, arm) in enumerate(schedule(s.arms, s.runs)):
                self.check_deadline()
                self.measure(browser, arm, run)
                if s.runs_auto and (index + 1) % len(s.arms) == 0 and self.enough(run + 1):
                    break
            if s.verify_deploy:
                self.verify_deploy(browser)
        except AuditAborted as e:
            complete, problem = False, str(e)
        except KeyboardInterrupt:
            complete, problem = False, "interrupted"
        except Exception as e:  # a browser or proxy that died: keep what was measured, say why
            logger.exception("audit failed")
            complete, problem = False, f"failed: {type(e).__name__}: {e}"
        finally:
            for proxy in list(self._proxies):
                self.stop_proxy(proxy)
            if browser:
                try:
                    browser.close()
                except Exception as e:  # after Ctrl-C its connection may be broken: still write what was measured
                    logger.warning(f"closing the browser: {type(e).__name__}: {e}")
            shutil.rmtree(self.confdir, ignore_errors=True)
        return self.write(complete, problem)

    def enough(self, rounds: int) -> bool:
        """--runs auto, after a round of every arm: is every arm's LCP interval narrow enough?"""
        s = self.settings
        self.sampling = sampling(analyze(self.runs)["summary"], s.precision, rounds, s.runs)
        self.progress.phase(f"after {rounds} runs: LCP CI half-widths {self.sampling['lcp_ci_half_width_ms']} ms, "
                            f"target {self.sampling['target_half_width_ms']} ms")
        return self.sampling["stopped_by"] is not None

    def sampling_of(self, complete: bool) -> dict:
        if not self.settings.runs_auto:
            return {"mode": "fixed", "runs": self.settings.runs}
        found = self.sampling or sampling({}, self.settings.precision, 0, self.settings.runs)
        return {**found, "stopped_by": found["stopped_by"] or (None if complete else "incomplete")}

    def what_if(self, results: dict) -> dict | None:
        """--what-if ignore-cookies: the arm against its base, and an advice entry with the risk."""
        s = self.settings
        if not s.ignore_cookies:
            return None
        result = what_if_result(results["summary"], s.what_if_base, s.ignore_cookies)
        results["advice"] += what_if_advice(result)
        return result

    def against_baseline(self, results: dict) -> dict | None:
        path = self.settings.baseline
        if not path:
            return None
        baseline = json.loads(path.read_text(encoding="utf-8"))
        return compare_with_baseline(results["navigations"], list(results["summary"]), baseline, str(path))

    def in_site_urls(self, proxy: ProxyProcess, open_page: Callable[[str], OpenedPage], session=None):
        """`open_page` (a session's visible_links or follow) taking and giving the site's URLs."""
        def visible_links(url: str) -> OpenedPage:
            self.check_deadline()
            final, links, status = open_page(self.site_url(proxy, url))
            rebase = lambda u: self.site_path(proxy, u)
            self.keep_page_links(session or getattr(open_page, "__self__", None), rebase)
            return rebase(final), [{**link, "href": rebase(link["href"])} for link in links], status
        return visible_links

    def keep_page_links(self, session, rebase: Callable[[str], str]) -> None:
        """Every link of the page just opened (not only the visible ones), in the site's URLs."""
        if session is None or not hasattr(session, "page_links"):
            return
        try:
            found = session.page_links()
        except Exception as e:  # a page that will not say (navigating away): the walk matters more
            logger.warning(f"links of the page not read: {type(e).__name__}: {e}")
            return
        self.page_links.append({"page": rebase(found["page"]),
                                "links": [{**link, "href": rebase(link["href"])} for link in found["links"]]})

    def plan_walk(self, browser, proxy: ProxyProcess, policy: WalkPolicy, path_entries) -> list[Step]:
        s = self.settings
        with browser.session(proxy.address, s.moves, throttled=False) as session:
            visible_links = self.in_site_urls(proxy, session.visible_links)
            if path_entries:
                return plan_from_path(path_entries, s.url, policy, visible_links)
            return plan_random_walk(s.url, s.pages, s.seed, policy, visible_links, self.chooser())

    def train(self, browser: CdpBrowser, policy: WalkPolicy) -> None:
        """`--train N` walks, pressing links as a visitor would (so the edge sees each page view
        with its Referer), through a proxy that learns and does not speculate. Each walk is
        another visitor, in a fresh profile: in one profile a page seen before comes from the
        browser's HTTP cache (heuristic freshness, without Cache-Control) and the edge never
        sees the view."""
        s = self.settings
        self.traversal_file.unlink(missing_ok=True)  # an earlier audit's graph in the same folder
        proxy = self.start_proxy(None, "train")
        walks: list[list[str]] = []
        errors: list[dict] = []
        try:
            for index in range(s.train):
                self.progress.phase(f"training walk {index + 1}/{s.train}")
                # Not measured: the graph counts page views, not how long they took.
                with browser.session(proxy.address, TRAINING_MOVES, throttled=False) as session:
                    session.set_extra_headers({TRAINING_VISITOR_HEADER: f"train-{index}"})  # one visitor per walk
                    opened: list[str] = []

                    def open_page(url: str) -> OpenedPage:
                        # The walk starts by address; then it presses links.
                        opened.append(url)
                        return session.follow(url) if len(opened) > 1 else session.visible_links(url)

                    try:
                        walk = plan_random_walk(s.url, s.pages, training_seed(s.seed, index), policy,
                                                self.in_site_urls(proxy, open_page, session), self.chooser())
                    except (CdpError, TimeoutError) as e:  # the pages it reached were counted: go on
                        errors.append({"walk": index, "url": self.site_path(proxy, opened[-1]) if opened else None, "error": f"{type(e).__name__}: {e}"})
                        walk = [Step(i, self.site_path(proxy, url), "link") for i, url in enumerate(opened)]
                    walks.append([step.url for step in walk])
        finally:
            self.stop_proxy(proxy)  # writes the graph
            self.training = {"walks": len(walks), "pages": sum(map(len, walks)), "graph": "raw/traversal.json",
                             "seeds": [training_seed(s.seed, i) for i in range(len(walks))], "urls": walks,
                             "errors": errors}
        if not self.traversal_file.exists():
            raise RuntimeError(f"the training proxy wrote no traversal graph ({self.traversal_file}); "
                               f"see {self.raw / 'train.mitmdump.log'}")

    def warm_urls(self, plan: list[Step], proxy: ProxyProcess) -> list[str]:
        """What the popular traffic keeps warm: the walk's pages, and with training the training
        walks' pages too (that traffic is what the model learnt from; warming only the measured
        walk's pages would tell the learned rules, which offer only what the edge holds, where
        the held-out walk goes)."""
        urls = [st.url for st in plan]
        for walk in (self.training or {}).get("urls", []):
            urls += [self.site_url(proxy, url) for url in walk]
        return list(dict.fromkeys(urls))

    def measure(self, browser: AuditBrowser, arm: str, run: int) -> dict:
        s = self.settings
        name = f"{arm}-run{run}"
        if arm == LEARNED_ARM:
            shutil.copyfile(self.traversal_file, self.raw / f"{name}.traversal.json")
        proxy = self.start_proxy(arm, name)
        try:
            plan = [Step(st.step, self.site_url(proxy, st.url), st.via, st.text) for st in self.plan]
            if s.edge == "warm":
                self.progress.phase(f"{arm} run {run + 1}: warming the edge")
                with browser.session(proxy.address, s.moves, throttled=False) as warmer:  # other visitors
                    warmer.warm(self.warm_urls(plan, proxy))
            measure_start = time.time()
            frames = FrameFolder(s.out, f"frames/{name}") if s.filmstrip else None
            with browser.session(proxy.address, s.moves, frames=frames) as session:
                def before(step: Step) -> None:
                    self.check_deadline()
                    self.progress.step(arm, run, step)

                try:
                    session.walk(plan, before)
                finally:  # also when the deadline or Ctrl-C cut the walk short: keep its steps
                    measure_end = time.time()
                    self.stop_proxy(proxy)  # writes the HAR and closes the trail
                    self.keep_run(arm, run, proxy, session, measure_start, measure_end)
        finally:
            if proxy in self._proxies:
                self.stop_proxy(proxy)

    def keep_run(self, arm: str, run: int, proxy: ProxyProcess, session, measure_start: float, measure_end: float) -> None:
        for step in session.steps:
            step["url"] = self.site_path(proxy, step["url"])
        self.console_errors += [{"arm": arm, "run": run, "text": text} for text in session.console_errors]
        trail_path = self.raw / f"{arm}-run{run}.trail.jsonl"
        self.runs.append({
            "arm": arm, "run": run, "measure_start": measure_start, "measure_end": measure_end,
            "proxy_address": proxy.address, "trail": list(trail.read_records(trail_path)) if trail_path.exists() else [],
            "preload_events": session.preload_events, "script_prefetches": session.script_prefetches, "steps": session.steps,
        })

    def verify_deploy(self, browser) -> None:
        """--verify-deploy: the deployment from the arms measured, then arm `deployed` with its files
        for as many runs as they had (after them, not interleaved: the files need their results)."""
        self.progress.phase("writing OUT/deploy/, then measuring it (arm deployed)")
        self.built_deployment = self.deployment(analyze(self.runs))
        if "error" in self.built_deployment["deploy"]:
            raise RuntimeError(f"no deployment to verify: {self.built_deployment['deploy']['error']}")
        for run in sorted({r["run"] for r in self.runs}):
            self.check_deadline()
            self.measure(browser, DEPLOYED_ARM, run)

    def deployment(self, results: dict) -> dict:
        """`links`, `groups` and `deploy` for audit.json, and OUT/deploy/ (deploy/deployment.py):
        from the links seen and what the proxies recorded of the pages the audit fetched."""
        s = self.settings
        try:
            har_entries, records = [], [r for run in self.runs for r in run["trail"]]
            for har in [*sorted(self.raw.glob("*.har")), self.raw / "plan-har.json"]:
                if not har.exists():
                    continue
                har_entries += json.loads(har.read_text(encoding="utf-8")).get("log", {}).get("entries", [])
            plan_trail = self.raw / "plan-trail.jsonl"
            records += list(trail.read_records(plan_trail)) if plan_trail.exists() else []
            links = collect_links(self.page_links, [st.url for st in getattr(self, "plan", [])],
                                  responses_from(har_entries, records),
                                  [p["url"] for p in results["prefetches"] if p.get("used")])
            eagerness = choose_eagerness(results["summary"], s.eagerness, s.moves.hover_ms, s.moves.press_ms)
            built = build_deployment(s.url, links, self.rule_sets, eagerness, deploy_notes(results["summary"]))
        except Exception as e:  # the measurements still count: say why there is no deployment
            logger.exception("deployment files not written")
            return {"links": [], "groups": [], "deploy": {"error": f"{type(e).__name__}: {e}"}}
        out = s.out / "deploy"
        out.mkdir(parents=True, exist_ok=True)
        for name, text in built.files.items():
            (out / name).write_text(text, encoding="utf-8")
        return {"links": built.links, "groups": built.groups, "deploy": {
            "files": [f"deploy/{name}" for name in built.files],
            "eagerness": {"value": eagerness.value, "why": eagerness.why},
            "verify": None}}

    def write(self, complete: bool, problem: str | None) -> dict:
        results = analyze(self.runs, out_dir=self.settings.out)
        deployment = self.built_deployment or self.deployment(results)
        if any(run["arm"] == DEPLOYED_ARM for run in self.runs):
            deployment["deploy"]["verify"] = deploy_check(self.runs, results["summary"], deployment["links"],
                                                          results["navigations"])
        what_if = self.what_if(results)  # before the document: it adds to the advice
        document = {
            "schema": SCHEMA,
            "url": self.settings.url,
            "complete": complete,
            "problem": problem,
            "settings": self.settings.to_json(),
            "environment": {**environment(getattr(self, "chromium_version", None)),
                            "driver": "devtools-pipe" if self.uses_cdp else "playwright",
                            "network": network_description(self.settings.throttle),
                            **getattr(self, "emulation", {})},
            "walk": [step.to_dict() for step in getattr(self, "plan", [])],
            "training": self.training,
            **results,
            "what_if": what_if,
            "assertions": evaluate_all(self.settings.assertions, results["summary"]),
            "sampling": self.sampling_of(complete),
            "baseline": self.against_baseline(results),
            **deployment,
            "console_errors": self.console_errors,
            "raw": {"runs": "raw/runs.json", "trails": sorted(p.name for p in self.raw.glob("*.trail.jsonl")),
                    "hars": sorted(p.name for p in self.raw.glob("*.har"))},
        }
        write_json(self.raw / "runs.json", {"schema": SCHEMA + "/raw", "runs": [
            {k: v for k, v in r.items() if k != "trail"} for r in self.runs]})
        write_json(self.settings.out / "audit.json", document)
        try:
            report.write_report(document, self.settings.out)
        except Exception as e:  # the measurements are written; a report can be rendered again later
            logger.error(f"report.html not written ({type(e).__name__}: {e}); try scripts/report {self.settings.out / 'audit.json'}")
        return document
