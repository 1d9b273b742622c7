"""The site's own rule files: `prefetch-rules.yaml` (our rules format; it loads in the proxy as
it is) and `speculation-rules.json` (derived from that YAML by rules/speculation_rules.py, so both
files always say the same thing), with the TTLs and the eagerness chosen from what the audit
observed, and every choice stated so a person can review it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from prefetch_lab.deploy.link_verdicts import PREFETCH, Response
from prefetch_lab.deploy.url_groups import Group
from prefetch_lab.rules.manifest import duration
from prefetch_lab.rules.rule_file import load_rules_text
from prefetch_lab.rules.speculation_rules import build_rules_document

DEFAULT_TTL = 300  # 5 min: Chromium keeps a prefetch 5 min; the default rules' edge TTL
SW_TTL_CAP = 120  # Edgio's service-worker default: a prefetched page is never much older than the edge copy
DEFAULT_SWR = 3600  # a stale copy can still be prefetched (no 412) while the edge refreshes it
MAX_TTL = 86400
MODERATE_HOVER_MS = 200  # Chrome's `moderate`: a prefetch after the pointer rests ~200 ms on a link

# After the groups: what no audit may have seen, kept out whatever a group's pattern says.
SAFETY_NET = """\
  - comment: >-
      Safety net (not from the audit): sign-out, cart and action links this audit did not
      see are never cached or prefetched, even where a group's pattern covers them.
    match:
      path_regex: '(?i)/(log[-_]?out|sign[-_]?out|log[-_]?off|cart|basket|checkout|add[-_]?to[-_]?cart|wp-admin|wp-login\\.php|administrator|edit|delete|remove|purge)(?=[/._;-]|$)'
    caching:
      bypass_cache: true
  - comment: >-
      Safety net: one-time tokens, cart and action parameters in the query.
    match:
      querystring:
        regex: '(?i)(^|&)(_wpnonce|nonce|_?token|form_key|csrf[^=&]*|add[-_]?to[-_]?cart|remove_item|action|do|task)(=|&|$)'
    caching:
      bypass_cache: true
"""


@dataclass(frozen=True)
class Ttls:
    max_age: int
    service_worker_max_age: int
    stale_while_revalidate: int
    why: str


@dataclass(frozen=True)
class Eagerness:
    value: str
    why: str


@dataclass
class SiteRules:
    yaml: str
    document: dict
    eagerness: Eagerness
    ttls: dict[str, Ttls] = field(default_factory=dict)  # by prefetch group pattern

    @property
    def json(self) -> str:
        return json.dumps(self.document, indent=2) + "\n"


def _seconds(cache_control: str, directive: str) -> int | None:
    match = re.search(rf"(?i)(?:^|,)\s*{re.escape(directive)}\s*=\s*\"?(\d+)", cache_control or "")
    return int(match.group(1)) if match else None


def choose_ttls(responses: Sequence[Response]) -> Ttls:
    """From the group's fetched responses: the origin's own shared freshness (s-maxage, else
    max-age; the smallest seen) and stale-while-revalidate, else the defaults, said so."""
    fresh = [v for r in responses if (v := _seconds(r.cache_control, "s-maxage") or _seconds(r.cache_control, "max-age"))]
    swrs = [v for r in responses if (v := _seconds(r.cache_control, "stale-while-revalidate"))]
    if fresh:
        max_age = max(60, min(min(fresh), MAX_TTL))
        why = f"edge TTL {duration(max_age)}: the origin's own max-age/s-maxage (smallest of {len(fresh)} responses)"
    else:
        max_age = DEFAULT_TTL
        seen = f"{len(responses)} fetched response(s)" if responses else "no response fetched (URL only)"
        why = f"edge TTL {duration(max_age)}: an assumption, the origin gave no freshness ({seen}); raise it for pages that rarely change"
    swr = min(swrs) if swrs else DEFAULT_SWR
    why += (f"; stale-while-revalidate {duration(swr)}" + (" (the origin's)" if swrs else " (assumed: a stale page stays prefetchable while refreshed)"))
    sw = min(max_age, SW_TTL_CAP)
    why += f"; browser (service worker) TTL {duration(sw)}, at most {duration(SW_TTL_CAP)}"
    return Ttls(max_age, sw, swr, why)


def choose_eagerness(summary: dict, measured: str, hover_ms: int, press_ms: int) -> Eagerness:
    """From the audit's speculation figures: `moderate` (on hover) when the walk's visitors rest on
    a link long enough for Chrome's hover trigger and the prefetches the rules allowed were
    mostly used; else `conservative` (on press). Never eager/immediate: the audit only hovers
    links it presses, so it cannot see what casual hovers would waste."""
    arm = summary.get("speculation") or summary.get("both")
    if not arm:
        return Eagerness("conservative", "no speculation arm was measured: Chrome's default for document rules")
    accuracy, coverage = arm.get("accuracy"), arm.get("coverage")
    figures = (f"the {measured} speculation arm: accuracy {_share(accuracy)} (prefetches used), coverage "
               f"{_share(coverage)} (navigations prefetched), {arm.get('wasted_bytes', 0)} bytes wasted; "
               f"hover before press {hover_ms} ms, press {press_ms} ms")
    if hover_ms >= MODERATE_HOVER_MS and (accuracy or 0) >= 0.5:
        gain = hover_ms - MODERATE_HOVER_MS + press_ms
        return Eagerness("moderate", f"{figures}: on hover the prefetch starts about {gain} ms before the navigation "
                                     f"instead of {press_ms} ms, and most prefetches were used")
    reason = ("few prefetches were used" if (accuracy or 0) < 0.5
              else f"visitors rest on a link less than Chrome's ~{MODERATE_HOVER_MS} ms hover trigger")
    return Eagerness("conservative", f"{figures}: {reason}, so prefetch on press")


def _share(value) -> str:
    return "n/a" if value is None else f"{round(100 * value)} %"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment(text: str) -> str:
    return _quote(re.sub(r"\s+", " ", text).strip())


def build_site_rules(groups: Sequence[Group], host: str, scheme: str, responses: dict[str, Response],
                     eagerness: Eagerness, reasons: dict[str, str] | None = None, source: str = "") -> SiteRules:
    """The YAML and the speculation-rules document for `host`. `responses`: the fetched URLs'
    facts (for the TTLs); `reasons`: a sentence per non-prefetch group pattern (the verdicts' why)."""
    reasons = reasons or {}
    lines = [
        f"# Prefetch rules for {scheme}://{host}/, written by Prefetch Lab's audit{(' of ' + source) if source else ''}.",
        "# Load in the proxy: --set prefetch_rules=prefetch-rules.yaml (rules/README.md: the format).",
        "# Prefetchable groups first, then every unsafe, uncacheable and excluded group (bypass_cache),",
        "# then a safety net: a later rule wins, so an exclusion beats a group pattern that covers it.",
        "# REVIEW: the TTLs are assumptions from what the audit saw (each rule says which), and any",
        "# group whose pages differ per visitor (signed in, cart count, location) must not be cached.",
        "rules:",
    ]
    ttls: dict[str, Ttls] = {}
    for group in groups:
        if group.verdict != PREFETCH:
            continue
        chosen = choose_ttls([responses[u] for u in group.urls if u in responses])
        ttls[group.pattern] = chosen
        lines += [
            f"  - comment: {_comment(f'prefetch {group.pattern} ({group.count} URL(s) seen). {chosen.why}.')}",
            "    match:",
            f"      host: {_quote(host)}",
            "      method: [GET, HEAD]",
            f"      path: {_quote(group.pattern)}",
            "    caching:",
            f"      max_age: {duration(chosen.max_age)}",
            f"      service_worker_max_age: {duration(chosen.service_worker_max_age)}",
            f"      stale_while_revalidate: {duration(chosen.stale_while_revalidate)}",
        ]
    for group in groups:
        if group.verdict == PREFETCH:
            continue
        why = reasons.get(_key(group), "")
        lines += [
            f"  - comment: {_comment(f'{group.verdict} {group.pattern} ({group.count} URL(s) seen). {why}')}",
            "    match:",
            f"      host: {_quote(host)}",
            f"      path: {_quote(group.pattern)}",
        ]
        if group.query:
            lines.append("      query:")
            lines += [f"        {_quote(name)}: " + (_quote(group.values[name]) if name in group.values else "true")
                      for name in group.query]
        lines += ["    caching:", "      bypass_cache: true"]
    yaml_text = "\n".join(lines) + "\n" + SAFETY_NET
    ruleset = load_rules_text(yaml_text, "prefetch-rules.yaml")  # a writer bug fails here, not in the proxy
    document = build_rules_document(ruleset, host, eagerness.value, scheme)
    return SiteRules(yaml_text, document, eagerness, ttls)


def _key(group: Group) -> str:
    names = [f"{n}={group.values[n]}" if n in group.values else n for n in group.query]
    return group.pattern + ("?" + "&".join(names) if names else "")


def group_key(group: Group) -> str:
    """How `reasons` names a group: its pattern, and `?names` of the query parameters it needs."""
    return _key(group)
