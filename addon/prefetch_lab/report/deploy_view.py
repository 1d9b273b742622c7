"""The report's deployment section: the URL groups, the links that must never be prefetched and
why, what --verify-deploy found, and the generated files (OUT/deploy/) to copy. Pure: audit.json's
`links`, `groups` and `deploy` and the files' text in, the template's dict out."""

from __future__ import annotations

from prefetch_lab.formatting import fmt_ms
from prefetch_lab.report.cells import cell, short_url, table

DEPLOY_FILES = ("prefetch-rules.yaml", "speculation-rules.json", "README.md")


def _share(value) -> str:
    return "–" if value is None else f"{round(100 * value)} %"


def groups_table(audit: dict) -> dict:
    columns = ["pattern", "verdict", "URLs", "fetched", "edge TTL", "browser TTL", "why"]
    rows = []
    for group in audit.get("groups") or []:
        ttl = group.get("ttl") or {}
        query = " with " + ", ".join(group["query"]) if group.get("query") else ""
        rows.append([
            cell(group["pattern"] + query), cell(group["verdict"], tone="good" if group["verdict"] == "prefetch" else "bad"),
            cell(group["urls"], group["urls"]), cell(group["fetched"], group["fetched"]),
            cell(f"{ttl['max_age']} s" if ttl else "–", ttl.get("max_age", -1)),
            cell(f"{ttl['service_worker_max_age']} s" if ttl else "–", ttl.get("service_worker_max_age", -1)),
            cell(ttl.get("why") or group.get("why") or "–"),
        ])
    return table(columns, rows, {"URLs", "fetched", "edge TTL", "browser TTL"})


def unsafe_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["link", "text", "verdict", "why", "remedy", "where"]
    rows = [[
        cell(short_url(link["url"], site)), cell(link.get("text") or "–"), cell(link["verdict"], tone="bad"),
        cell(link["why"], title=link.get("signal")), cell(link.get("remedy") or "–"),
        cell(f"{link.get('region')}, {'visible' if link.get('visible') else 'hidden'}, on {len(link.get('pages') or [])} page(s)"),
    ] for link in audit.get("links") or [] if link["verdict"] in ("unsafe", "uncacheable")]
    return table(columns, rows)


def verify_lines(verify: dict | None) -> list[str]:
    if not verify:
        return []
    arms = verify.get("arms") or {}
    lines = [f"{arm}: coverage {_share(f.get('coverage'))} ({_share(f.get('safe_coverage'))} of "
             f"{f.get('safe_navigations', 0)} navigations to prefetchable pages), accuracy {_share(f.get('accuracy'))}, "
             f"LCP p50 {fmt_ms(f.get('lcp_ms_p50'))}" for arm, f in arms.items()]
    for arm, found in (verify.get("unsafe_prefetches") or {}).items():
        served = sum(1 for p in found if p.get("served"))
        if found:
            lines.append(f"{arm} asked for {len(found)} prefetch(es) of unsafe or uncacheable URLs, {served} served: "
                         + ", ".join(sorted({p['url'] for p in found})))
    lines.append("The deployed arm asked for no unsafe or uncacheable URL." if verify.get("deployed_safe")
                 else "The deployed arm asked for an unsafe or uncacheable URL: review the generated rules.")
    return lines


def deploy_view(audit: dict, files: dict[str, str]) -> dict | None:
    """None for an audit without the deployment (written before it, or its files failed)."""
    deploy = audit.get("deploy")
    if not deploy:
        return None
    return {
        "error": deploy.get("error"),
        "eagerness": deploy.get("eagerness"),
        "groups_table": groups_table(audit),
        "unsafe_table": unsafe_table(audit),
        "verify_lines": verify_lines(deploy.get("verify")),
        "files": [{"name": name, "id": "deploy-file-" + name.replace(".", "-"), "text": files[name]}
                  for name in DEPLOY_FILES if name in files],
    }
