"""A small blog with traps for the deployment's lint, served by harness.Origin on 127.0.0.1 (its
`seen` list is the origin's request log): GET links that add to a cart, log out, delete with a
nonce and mark as read (classified by their URL; the audit must never fetch them), a page that
sets a session cookie, a `no-store` page, a `Vary: Cookie` page, a redirect to sign-in (known
only once fetched: the walk opens them as a visitor would), and a `rel=nofollow` link."""

from __future__ import annotations

from tests.harness import Reply

HTML = {"content-type": "text/html; charset=utf-8"}
CACHEABLE = {**HTML, "cache-control": "public, max-age=600"}
POSTS = ["/2024/01/hello/", "/2024/02/second/", "/2024/03/third/", "/2023/12/review/"]
# Never to be fetched: each one changes state (expected verdict, a word of its reason).
ACTION_TRAPS = {
    "/shop/?add-to-cart=7": ("unsafe", "add-to-cart"),
    "/logout": ("unsafe", "sign-out"),
    "/2024/01/hello/delete?_wpnonce=3f2a": ("unsafe", "_wpnonce"),
    "/notifications/mark-read?id=4": ("unsafe", "mark-read"),
    "/partners/": ("unsafe", "nofollow"),
}
# Known from their responses: the walk opens them (expected verdict, signal).
RESPONSE_TRAPS = {
    "/welcome/": ("unsafe", "sets new cookies"),
    "/members/": ("uncacheable", "Cache-Control: no-store"),
    "/local/": ("uncacheable", "Vary: Cookie"),
    "/orders/": ("unsafe", "redirect to sign-in"),
}
# The walk: a post, each response trap, and back to posts (a --path file).
WALK = ["/", "/2024/01/hello/", "/welcome/", "/members/", "/local/", "/2024/02/second/", "/orders/", "/2024/03/third/"]


def _page(title: str, extra: str = "") -> bytes:
    nav = "".join(f'<a href="{p}">{p}</a> ' for p in POSTS)
    traps = "".join(f'<a href="{href}">{href}</a> ' for href in ACTION_TRAPS if href != "/partners/")
    visits = "".join(f'<a href="{href}">{href.strip("/")}</a> ' for href in RESPONSE_TRAPS)
    return (f"<!doctype html><html><head><title>{title}</title></head><body>"
            f"<header><a href=\"/\">Home</a> <a href=\"/about/\">About</a></header>"
            f"<nav>{nav}</nav><main><h1>{title}</h1><p>{'A paragraph of the post. ' * 20}</p>{visits}{extra}</main>"
            f"<aside>{traps}</aside><footer><a rel=\"nofollow\" href=\"/partners/\">Partners</a>"
            f"<a href=\"/hidden/\" style=\"display:none\">hidden</a></footer></body></html>").encode()


def trap_routes() -> dict[str, Reply]:
    routes: dict[str, Reply] = {"/": Reply(200, CACHEABLE, _page("Home")), "/about/": Reply(200, CACHEABLE, _page("About"))}
    for path in POSTS:
        routes[path] = Reply(200, CACHEABLE, _page(path))
    routes["/welcome/"] = Reply(200, {**HTML, "set-cookie": "session=abc123; Path=/; HttpOnly"}, _page("Welcome"))
    routes["/members/"] = Reply(200, {**HTML, "cache-control": "no-store"}, _page("Members"))
    routes["/local/"] = Reply(200, {**CACHEABLE, "vary": "Cookie"}, _page("Local"))
    routes["/orders/"] = Reply(302, {"location": "/signin?next=/orders/", "content-type": "text/html"}, b"")
    routes["/signin"] = Reply(200, {**HTML, "cache-control": "no-store"}, _page("Sign in"))
    for href in ACTION_TRAPS:  # reached only if something fetched a trap: the tests check it never is
        routes.setdefault(href.split("?")[0], Reply(200, HTML, b"<!doctype html><p>state changed!</p>"))
    return routes
