"""Edgio's own evaluator as the judge: the cache manifest our edge serves, read by Edgio's
`CacheManifest.shouldPrefetch` (@edgio/core 7.13.13, fetched from npm at test time and run in
Node), decides every URL as the edge does (`RuleSet.match(...).prefetchable`) and as our
manifest-eval.js does, for rules/default.yaml and the examples.

Needs node and npm (the registry once; then the cache, see tests/npmcache.py). Without them
the test fails and says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.http.cachestore import strip_edgio_params
from prefetch_lab.client.edge_files import MANIFEST_JS, STATIC, EdgeFiles
from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules
from tests import npmcache

ROOT = Path(__file__).resolve().parents[2]
JUDGE = Path(__file__).with_name("edgio_judge.js")
DEFAULT = ROOT / "rules" / "default.yaml"
SEED = ROOT / "rules" / "examples" / "edgio-seed.yaml"
SCOPED = ROOT / "rules" / "examples" / "site-scoped.yaml"

RULE_SETS = {
    "default.yaml": [DEFAULT],
    "edgio-seed.yaml": [SEED],
    "site-scoped.yaml": [SCOPED],
    "default.yaml + examples": [DEFAULT, SEED, SCOPED],
}
HOSTS = ("shop.example.com", "www.shop.example.com", "other.example")

PATHS = [
    # default.yaml: pages, assets, sign-out / sign-in / carts / admin / accounts
    "/", "/about", "/p/1", "/p/1#reviews", "/docs/a%20b", "/caf%C3%A9", "/assets/app.JS", "/img/x.webp",
    "/logout", "/LogOut.php", "/user/sign-out/", "/logoff", "/login", "/login-help", "/register;x",
    "/signup", "/cart", "/cart/add?id=1", "/cartography/maps", "/add-to-cart/5", "/checkout",
    "/wp-admin/edit.php", "/WP-Admin/", "/wp-login.php", "/administrator", "/admin", "/admin-guide",
    "/account", "/accounts", "/my-account/orders", "/Profile/", "/profiles",
    # query present / absent / empty / repeated / encoded names
    "/?add-to-cart=5", "/?add-to-cart", "/?add-to-cart=", "/?x=1&add-to-cart=5", "/?add%2Dto-cart=5",
    "/?add%2dto%2Dcart", "/?ADD-TO-CART=1", "/?x=add-to-cart", "/?add-to-carts=1",
    "/?add-to-cart=5&add-to-cart=6", "/p?a=1&&add-to-cart", "/x?_wpnonce=1", "/x?a=1&PHPSESSID=3",
    "/x?TOKEN=2", "/x?mytoken=2", "/catalog?token_type=x", "/search?q=a+b", "/search?q=a%2Bb&page=2",
    # edgio-seed.yaml
    "/pages/1", "/pages/1/", "/PAGES/1", "/pages/1/2", "/pages", "/pages/1?x=1",
    "/api/products/7.json", "/api/products/7", "/api/products/a.b.json",
    # site-scoped.yaml: first value of a repeated param, present/absent/empty preview
    "/category/shoes", "/category/shoes?page=1", "/category/shoes?page=0", "/category/shoes?page=10",
    "/category/shoes?page=1&page=10", "/category/shoes?page=10&page=1", "/category/shoes?page=",
    "/category/shoes?page", "/category/shoes?page=%31", "/category/shoes?page=1&preview",
    "/category/shoes?page=1&preview=", "/category/shoes?page=1&preview=1", "/category/shoes?preview&page=1",
    "/category/shoes?page=1&pre%76iew=0", "/category/shoes/x?page=1", "/Category/Shoes/?page=2",
    "/search?page=1", "/search?page=1&x", "/search?page=2", "/search", "/search?", "/search?page=1&",
    "/api/v1/products/9", "/API/V12/products/9", "/api/v1/products/x",
]
URLS = [f"{scheme}://{{host}}{path}" for scheme in ("https", "http") for path in PATHS]

# Known, documented difference (docs/browser-runtime.md): Edgio's client cuts the query string
# at a second "?", the edge does not. Safe: Edgio's client asks, the edge gates the prefetch.
KNOWN_DIFFERENCES = [
    ("site-scoped.yaml", "https://shop.example.com/search?page=1?x", True, False),
    ("default.yaml", "https://shop.example.com/?x=?&add-to-cart=5", True, False),
]


def run_judge(cases: list[dict]) -> list[list[dict]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("this test runs Edgio's evaluator in Node: node is not on PATH")
    try:
        core = npmcache.edgio_core()
    except npmcache.NpmUnavailable as error:
        pytest.fail(str(error))
    payload = json.dumps({"core": str(core), "ours": str(STATIC / "manifest-eval.js"), "cases": cases})
    done = subprocess.run([node, str(JUDGE)], input=payload, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def served_manifest(paths: list[Path], host: str) -> str:
    files = EdgeFiles()
    files.rules_changed(load_rules(paths))
    status, headers, body = files.respond(MANIFEST_JS, host, "https", "conservative", None)
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    return body.decode("ascii")


def edge_says(ruleset, href: str) -> bool:
    parts = urlsplit(href)
    request = RequestInfo("GET", parts.scheme, parts.hostname, parts.path, strip_edgio_params(parts.query))
    return ruleset.match(request).prefetchable


def test_edgio_shouldprefetch_agrees_with_the_edge_and_our_evaluator_url_by_url():
    cases, keys = [], []
    for name, paths in RULE_SETS.items():
        for host in HOSTS:
            cases.append({"manifest": served_manifest(paths, host), "urls": [u.format(host=host) for u in URLS]})
            keys.append((name, host))
    results = run_judge(cases)
    disagreements, compared, verdicts = [], 0, {}
    for (name, host), rows in zip(keys, results):
        ruleset = load_rules(RULE_SETS[name])
        for row in rows:
            edge = edge_says(ruleset, row["href"])  # the URL as the browser serialises it
            compared += 1
            verdicts.setdefault(name, set()).add(edge)
            if not (row["edgio"] is edge and row["ours"] is edge):
                disagreements.append((name, row["href"], {"edgio": row["edgio"], "ours": row["ours"], "edge": edge}))
    assert not disagreements, f"{len(disagreements)} of {compared}:\n" + "\n".join(map(str, disagreements[:40]))
    assert compared == len(RULE_SETS) * len(HOSTS) * len(URLS)
    assert all(v == {True, False} for v in verdicts.values()), verdicts  # both outcomes exercised


def test_known_differences_are_still_the_only_ones():
    cases = [{"manifest": served_manifest(RULE_SETS[name], "shop.example.com"), "urls": [url]}
             for name, url, _, _ in KNOWN_DIFFERENCES]
    for (name, url, edgio, edge), [row] in zip(KNOWN_DIFFERENCES, run_judge(cases)):
        assert edge_says(load_rules(RULE_SETS[name]), row["href"]) is edge
        assert row["edgio"] is edgio, (name, url, row)
        assert row["ours"] is edge, (name, url, row)  # ours reads the query whole, as the edge


def test_the_encodings_issue_10_found_broken_are_gone():
    """What broke Edgio's client on the old manifest, checked with Edgio's code: integer
    durations throw in fromTimeUnitAbbrev ("e.match is not a function"), `null` as "absent" /
    "present" never equals Edgio's undefined, lower-case schemes never match "HTTPS"."""
    body = served_manifest([DEFAULT, SCOPED], "shop.example.com")
    prefix, manifest = body.split("=", 1)
    manifest = json.loads(manifest.strip().rstrip(";"))
    text = json.dumps(manifest)
    assert "null" not in text and '"not"' not in text and '"https"' not in text
    page = "https://shop.example.com/p/1"
    integer = json.loads(text.replace('"120s"', "120").replace('"300s"', "300"))
    present_null = json.loads(text)
    present_null["rules"][5]["if"][0] = {"and": [{"!==": [{"request.origin_query": "add-to-cart"}, None]}]}
    scoped = served_manifest([SCOPED], "shop.example.com")
    lower = scoped.replace('"HTTPS"', '"https"')
    category = "https://shop.example.com/category/shoes?page=1"
    cases = [{"manifest": prefix + "=" + json.dumps(m) + ";", "urls": [page, category]}
             for m in (manifest, integer, present_null)]
    cases += [{"manifest": m, "urls": [category]} for m in (scoped, lower)]
    ok, broken_durations, broken_presence, scheme_ok, broken_scheme = run_judge(cases)
    assert [row["edgio"] for row in ok] == [True, True]
    assert all(str(row["edgio"]).startswith("error: ") and ".match" in row["edgio"] for row in broken_durations)
    assert [row["edgio"] for row in broken_presence] == [False, False]  # every URL bypass_cache
    assert scheme_ok[0]["edgio"] is True and broken_scheme[0]["edgio"] is False
