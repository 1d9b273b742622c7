"""OUT/deploy/README.md: how to deploy the two generated files, which rule does what, and what
to review first."""

from __future__ import annotations

from collections.abc import Sequence

from prefetch_lab.deploy.site_rules import SiteRules
from prefetch_lab.deploy.url_groups import Group

RULES_URL = "/speculation-rules.json"


def _table(groups: Sequence[Group], site_rules: SiteRules) -> list[str]:
    rows = ["| pattern | verdict | URLs seen | what the rules do |", "|---|---|---|---|"]
    for group in groups:
        names = [f"`{n}={group.values[n]}`" if n in group.values else f"`{n}`" for n in group.query]
        query = (" with " + ", ".join(names)) if names else ""
        if group.verdict == "prefetch":
            ttl = site_rules.ttls.get(group.pattern)
            does = (f"cached {ttl.max_age} s at the edge, {ttl.service_worker_max_age} s in the browser, "
                    f"stale-while-revalidate {ttl.stale_while_revalidate} s; prefetched") if ttl else "prefetched"
        else:
            does = "bypass_cache: never cached, never prefetched"
        rows.append(f"| `{group.pattern}`{query} | {group.verdict} | {group.count} | {does} |")
    return rows


def render_readme(site: str, groups: Sequence[Group], site_rules: SiteRules, unsafe_examples: Sequence[dict],
                  notes: Sequence[str] = ()) -> str:
    prefetch = [g for g in groups if g.verdict == "prefetch"]
    lines = [
        f"# Deploying prefetching on {site}",
        "",
        *(line for note in notes for line in (f"**Read first:** {note}", "")),
        "Written by Prefetch Lab's audit from what it saw on the site. Two files:",
        "",
        "- `prefetch-rules.yaml`: the edge's caching rules (Prefetch Lab's format, which mirrors Edgio's",
        "  CDN-as-code features): try them in the proxy with",
        "  `scripts/proxy --set prefetch_rules=prefetch-rules.yaml`, or re-run the audit with `--verify-deploy`.",
        "- `speculation-rules.json`: a Speculation Rules document for the browser, from the same rules:",
        "  links matching a prefetchable group, and none of the excluded ones nor `rel=nofollow` links.",
        f"  Eagerness `{site_rules.eagerness.value}`: {site_rules.eagerness.why}.",
        "",
        "## Serve the speculation rules",
        "",
        f"Publish the JSON at `{RULES_URL}` with `Content-Type: application/speculationrules+json`, and",
        "name it in a `Speculation-Rules` response header on your HTML pages (a header needs no CSP change),",
        "or paste it into the pages as `<script type=\"speculationrules\">…</script>` (a strict CSP then needs",
        "`'inline-speculation-rules'` or the script's hash).",
        "",
        "nginx:",
        "```nginx",
        f"location = {RULES_URL} {{",
        "    types { }  # else mime.types makes .json application/json",
        "    default_type application/speculationrules+json;",
        "    add_header Cache-Control \"public, max-age=300\";",
        "}",
        "location / {",
        f"    add_header Speculation-Rules '\"{RULES_URL}\"';",
        "    # ... your existing configuration",
        "}",
        "```",
        "",
        "Apache (mod_headers):",
        "```apache",
        f"<Files \"{RULES_URL.lstrip('/')}\">",
        "    ForceType application/speculationrules+json",
        "</Files>",
        f"Header set Speculation-Rules \"\\\"{RULES_URL}\\\"\" \"expr=%{{CONTENT_TYPE}} =~ m#^text/html#\"",
        "```",
        "",
        "Cloudflare Pages / Netlify `_headers`:",
        "```",
        "/*",
        f"  Speculation-Rules: \"{RULES_URL}\"",
        RULES_URL,
        "  Content-Type: application/speculationrules+json",
        "```",
        "",
        "Cloudflare Worker:",
        "```js",
        "export default {",
        "  async fetch(request, env, ctx) {",
        "    const response = await fetch(request);",
        f"    if (new URL(request.url).pathname === '{RULES_URL}') {{  // the file, with its media type",
        "      const rules = new Response(response.body, response);",
        "      rules.headers.set('Content-Type', 'application/speculationrules+json');",
        "      return rules;",
        "    }",
        "    if (!(response.headers.get('content-type') || '').includes('text/html')) return response;",
        "    const page = new Response(response.body, response);",
        f"    page.headers.set('Speculation-Rules', '\"{RULES_URL}\"');",
        "    return page;",
        "  },",
        "};",
        "```",
        "",
        "## Which rule does what",
        "",
        *_table(groups, site_rules),
        "",
        "After the groups come two safety-net rules (sign-out, cart and action paths; tokens, cart and",
        "action parameters): a later rule wins, so they keep out what the audit did not see even where",
        "a group's pattern covers it.",
        "",
    ]
    covered = [(g.pattern, u) for g in prefetch for u in g.covers]
    if covered:
        lines += ["Patterns that also match an excluded URL (the exclusion comes later and wins):", ""]
        lines += [f"- `{pattern}` matches {url}" for pattern, url in covered]
        lines.append("")
    if unsafe_examples:
        lines += ["## Links that must never be prefetched", ""]
        lines += [f"- {link['url']}: {link['verdict']}, {link['why']}" for link in unsafe_examples]
        lines.append("")
    lines += [
        "## Review before deploying",
        "",
        "- **TTLs**: each prefetch rule's comment says where its TTL comes from; where the origin gave no",
        "  freshness, 5 minutes is an assumption. Longer is fine for pages that rarely change; a purge on",
        "  publish keeps them right.",
        "- **Personalised pages**: a group whose pages differ per visitor (signed-in name, cart count,",
        "  prices by location) must not be cached at a shared edge: move it to a `bypass_cache` rule.",
        "- **Links the audit did not fetch** were judged by their URL alone; check the unsafe list.",
        "- **Another prefetcher** (a WordPress plugin, instant.page, quicklink): keep one, or they fetch twice.",
        "",
    ]
    return "\n".join(lines)
