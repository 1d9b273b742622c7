"""An audit's links in, the deployment out: every link's verdict, the URL groups, and the files
for OUT/deploy/ (prefetch-rules.yaml, speculation-rules.json, README.md). Plain values; the audit
(audit/run.py) collects the links and writes the files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from prefetch_lab.deploy.deploy_readme import render_readme
from prefetch_lab.deploy.link_verdicts import PREFETCH, Link, Verdict, classify
from prefetch_lab.deploy.site_rules import Eagerness, SiteRules, build_site_rules, group_key
from prefetch_lab.deploy.url_groups import Group, group_urls
from prefetch_lab.deploy.url_signals import FRAGMENT_ACCOUNT
from prefetch_lab.rules.model import RuleSet

FILES = ("prefetch-rules.yaml", "speculation-rules.json", "README.md")


@dataclass
class Deployment:
    links: list[dict]
    groups: list[dict]
    site_rules: SiteRules
    files: dict[str, str]  # file name -> text


def link_key(url: str) -> str:
    """A link's identity: its URL without the fragment, unless the fragment is what it does
    (Ghost's `/#/portal/signin`: a script opens the sign-in on that fragment)."""
    parts = urlsplit(url)
    if parts.fragment and FRAGMENT_ACCOUNT.search(parts.fragment):
        return url
    return urlunsplit(parts._replace(fragment=""))


def merge_links(links: Sequence[Link]) -> list[Link]:
    """One per distinct link: the pages it appeared on joined, the first text and region kept,
    visible if it ever was, followed if it ever was."""
    merged: dict[str, Link] = {}
    for link in links:
        key = link_key(link.url)
        old = merged.get(key)
        if old is None:
            merged[key] = replace(link, url=key, pages=tuple(dict.fromkeys(link.pages)))
            continue
        merged[key] = replace(
            old, text=old.text or link.text, rel=old.rel or link.rel, visible=old.visible or link.visible,
            pages=tuple(dict.fromkeys(old.pages + link.pages)), followed=old.followed or link.followed,
            response=old.response or link.response, prefetch_used=old.prefetch_used or link.prefetch_used,
            region=old.region if old.region != "other" else link.region,
        )
    return list(merged.values())


def build_deployment(site_url: str, links: Sequence[Link], rule_sets: Sequence[RuleSet],
                     eagerness: Eagerness, notes: Sequence[str] = ()) -> Deployment:
    """`notes`: what the README says first (the audit's findings a deployment must know)."""
    parts = urlsplit(site_url)
    origin = (parts.scheme, parts.netloc.lower())
    same_origin = [link for link in links if (urlsplit(link.url).scheme, urlsplit(link.url).netloc.lower()) == origin]
    merged = merge_links(same_origin)
    verdicts: dict[str, Verdict] = {link.url: classify(link, rule_sets) for link in merged}
    # A link whose fragment alone is what it does fetches the page without it: nothing to exclude.
    groupable = [(link.url, verdicts[link.url].verdict) for link in merged if "#" not in link.url]
    groups = group_urls(groupable)
    group_of = {url: group for group in groups for url in group.urls}
    reasons = {group_key(g): verdicts[g.urls[0]].why for g in groups if g.verdict != PREFETCH}
    responses = {link.url: link.response for link in merged if link.response is not None}
    site_rules = build_site_rules(groups, parts.hostname or "", parts.scheme, responses, eagerness, reasons, site_url)
    link_rows = [_link_row(link, verdicts[link.url], group_of.get(link.url)) for link in merged]
    unsafe = [row for row in link_rows if row["verdict"] in ("unsafe", "uncacheable")]
    files = {
        "prefetch-rules.yaml": site_rules.yaml,
        "speculation-rules.json": site_rules.json,
        "README.md": render_readme(f"{parts.scheme}://{parts.netloc}", groups, site_rules, unsafe, notes),
    }
    return Deployment(link_rows, [_group_row(g, site_rules, verdicts) for g in groups], site_rules, files)


def _link_row(link: Link, verdict: Verdict, group: Group | None) -> dict:
    response = link.response
    return {
        "url": link.url, "text": link.text, "pages": list(link.pages), "group": group.pattern if group else None,
        "verdict": verdict.verdict, "why": verdict.why, "signal": verdict.signal or None, "remedy": verdict.remedy or None,
        "rel": link.rel or None, "region": link.region, "visible": link.visible, "followed": link.followed,
        "fetched": None if response is None else {
            "status": response.status, "cache_control": response.cache_control or None, "vary": response.vary or None,
            "set_cookies": list(response.set_cookies), "location": response.location or None, "size": response.size,
            "caching_status": response.caching_status or None,
        },
        "prefetch_used": link.prefetch_used,
    }


def _group_row(group: Group, site_rules: SiteRules, verdicts: dict[str, Verdict]) -> dict:
    ttl = site_rules.ttls.get(group.pattern) if group.verdict == PREFETCH else None
    return {
        "pattern": group.pattern, "query": list(group.query), "query_values": group.values, "verdict": group.verdict, "urls": group.count,
        "fetched": sum(1 for u in group.urls if verdicts[u].fetched), "examples": group.urls[:5],
        "why": verdicts[group.urls[0]].why if group.verdict != PREFETCH else None,
        "ttl": None if ttl is None else {"max_age": ttl.max_age, "service_worker_max_age": ttl.service_worker_max_age,
                                         "stale_while_revalidate": ttl.stale_while_revalidate, "why": ttl.why},
        "covers": group.covers,
    }
