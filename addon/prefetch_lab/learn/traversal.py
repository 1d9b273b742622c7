"""The traversal graph: per host, which page visitors view after which, and how likely each is.

What it counts. `observe(host, from_url, to_url, now)` is one page view of `to_url`; `from_url`
is the same-origin page the visitor came from (the Referer), or None. It adds 1 to the views of
`to_url` and, when there is a `from_url`, 1 to the edge `from_url -> to_url`. The caller feeds
document navigations only (not prefetches, refusals or the edge's own fetches), once each.

Pages are keyed as the edge cache keys them (`page_key`): path + query with `edgio_*`
parameters removed (`cachestore.strip_edgio_params`), fragment dropped; the host is
lower-cased and keeps a non-default port.

Decay. Every view and edge weight halves every `half_life_s` of wall time (default one day):
a weight is stored with the time it was last updated and decayed on read. Decay is uniform,
so it never reorders candidates by itself; what it does is let new behaviour outweigh old
(a link that moved gets clicks at full weight while the old ones fade) and make old evidence
weaker against the smoothing prior, so an untrafficked model loses confidence instead of
prerendering last month's favourite. One day follows a changed site within a day or two; a
quiet page holds fewer effective views, which the smoothing turns into lower probabilities
(prefetch instead of prerender), the safe direction.

The model (first order Markov, smoothed towards "other"):

    P(next = v | page u) = w(u -> v) / (views(u) + prior)
    P(other | u)         = 1 - sum over v of P(v | u)

`views(u)` counts every view of u, including the ones where the visitor left, reloaded or went
to a page we no longer track, so those all land in "other" and probabilities sum to at most 1.
`prior` (default 2) is additive smoothing placed on "other" alone: pseudo-views of u whose next
page was never seen. One observation gives 1/3, three in a row 3/5, ten 10/12. Classic Laplace
(a pseudo-count on every candidate too) would make a single observed click 2/3 likely, enough
to prerender; putting the pseudo-counts on "other" keeps sparse evidence modest.

Not modelled: the page before (second order). The edge learns from Referer alone, and the
rules document is keyed by the page, never by the visitor's path through the site, so a second
order model could not be served without putting the previous page into the rules URL; no test
here shows it would help. Left out.

Bounded memory: at most `max_hosts` hosts, `max_nodes_per_host` pages (nodes) per host and
`max_edges_per_node` next pages per page. When a cap is reached, the entry with the lowest
decayed weight goes (a host: its total views; a page: its views; an edge: its weight; ties: the
least recently updated). An evicted edge's weight stays in its page's views, so it becomes
"other" mass rather than inflating the rest. A new entry always gets in (it displaces the
weakest), so a changing site is followed: a new next page must be seen again before another new
one displaces it. Defaults: 16 hosts x 2,000 pages x 24 edges, about 770,000 edges at most;
measured with tracemalloc at about 210 bytes per edge (pages included), so about 160 MB in the
worst case and far less in practice: most pages have a handful of next pages.

Who taught it (issue 22, learn/view_bounds.py): `observe(..., visitor=hash)` records the
visitor's 2-byte hash on the edge it feeds (at most MAX_VISITORS_KEPT distinct ones per edge),
so the rules can ask how many distinct visitors took a link (`Prediction.visitors`). And when
a cap is reached, a new host, page or edge displaces the weakest only once two distinct
visitors asked for it (`Admission`): one client alone cannot evict what others taught. Without
a visitor (None) nothing is recorded and everything is admitted, as before.

Persistence: `save(path, now)` writes JSON (format version `VERSION`) atomically (a temporary
file in the same folder, then `os.replace`), with every weight decayed to `now`.
`TraversalGraph.load(path, ...)` returns `(graph, error)`: a missing file is a fresh graph with
no error (the first start); an unreadable or malformed one is a fresh graph and a message
saying what is wrong, for the caller to log.

Not thread-safe: call it from one thread (mitmproxy's event loop). To write from another
thread, take `to_json(now)` on the loop and hand the dict to `write_json_atomically`.

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prefetch_lab.http.cachestore import DEFAULT_PORTS, strip_edgio_params
from prefetch_lab.learn.view_bounds import VISITOR_HASH_BYTES, Admission, visitor_count, with_visitor

FORMAT = "prefetch-lab-traversal"
VERSION = 1
DEFAULT_HALF_LIFE_S = 86_400.0
DEFAULT_PRIOR = 2.0
DEFAULT_MAX_HOSTS = 16
DEFAULT_MAX_NODES_PER_HOST = 2_000
DEFAULT_MAX_EDGES_PER_NODE = 24


# ---------------------------------------------------------------- normalisation


def page_key(url: str) -> str | None:
    """'https://h/a/b?x=1&edgio_prefetch=1#top' (or '/a/b?...') -> '/a/b?x=1'; None if no page.

    The path is taken as sent (the cache key does not decode or case-fold it). A path starting
    with '//' is refused: a browser would read it as another host.
    """
    parts = urlsplit(url)
    path = parts.path or ("/" if parts.netloc else "")
    if not path.startswith("/") or path.startswith("//"):
        return None
    query = strip_edgio_params(parts.query)
    return path + ("?" + query if query else "")


def site_of(url: str) -> str | None:
    """The host an absolute URL belongs to, as the graph names hosts; None for a relative URL."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return normalise_host(parts.hostname, port, parts.scheme)


def normalise_host(host: str, port: int | None = None, scheme: str | None = None) -> str:
    """'Example.COM', 443, 'https' -> 'example.com'; a non-default port stays: '127.0.0.1:8080'."""
    host = host.lower().rstrip(".")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    if port is None or DEFAULT_PORTS.get((scheme or "").lower()) == port:
        return host
    return f"{host}:{port}"


# ---------------------------------------------------------------- decayed counters


@dataclass(slots=True)  # one per edge: slots keep it small
class Decayed:
    """A weight that halves every half-life; `t` is when `weight` was exact."""

    weight: float = 0.0
    t: float = 0.0

    def at(self, now: float, half_life_s: float) -> float:
        if now <= self.t:
            return self.weight
        return self.weight * math.exp2(-(now - self.t) / half_life_s)

    def add(self, amount: float, now: float, half_life_s: float) -> None:
        self.weight = self.at(now, half_life_s) + amount
        self.t = max(now, self.t)


@dataclass(slots=True)
class Edge(Decayed):
    """A link's clicks, and the hashes of the distinct visitors who took it (view_bounds)."""

    seen: bytes = b""


@dataclass(slots=True)
class PageNode:
    views: Decayed = field(default_factory=Decayed)
    next: dict[str, Edge] = field(default_factory=dict)


@dataclass(slots=True)
class HostGraph:
    views: Decayed = field(default_factory=Decayed)
    pages: dict[str, PageNode] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """One candidate next page and why it got its probability."""

    url: str  # page key: path + query
    probability: float
    weight: float  # decayed clicks page -> url
    views: float  # decayed views of the page
    prior: float
    visitors: int = 0  # distinct visitors recorded on the link (0: none recorded, e.g. an old file)

    def explain(self) -> str:
        return (f"{self.url}: {self.weight:.2f} of {self.views:.2f} views went there; "
                f"p = {self.weight:.2f} / ({self.views:.2f} + prior {self.prior:g}) = {self.probability:.3f}"
                + (f"; taken by {self.visitors} distinct visitors" if self.visitors else ""))


# ---------------------------------------------------------------- the graph


class TraversalGraph:
    def __init__(
        self,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        max_nodes_per_host: int = DEFAULT_MAX_NODES_PER_HOST,
        max_edges_per_node: int = DEFAULT_MAX_EDGES_PER_NODE,
        max_hosts: int = DEFAULT_MAX_HOSTS,
        prior: float = DEFAULT_PRIOR,
    ) -> None:
        if half_life_s <= 0:
            raise ValueError(f"half_life_s must be positive, got {half_life_s!r}")
        if min(max_nodes_per_host, max_edges_per_node, max_hosts) < 1:
            raise ValueError("the caps must be at least 1")
        if prior < 0:
            raise ValueError(f"prior must not be negative, got {prior!r}")
        self.half_life_s = float(half_life_s)
        self.max_nodes_per_host = max_nodes_per_host
        self.max_edges_per_node = max_edges_per_node
        self.max_hosts = max_hosts
        self.prior = float(prior)
        self.hosts: dict[str, HostGraph] = {}
        self.evictions = {"hosts": 0, "pages": 0, "edges": 0}
        self.admission = Admission()

    # ------------------------------------------------------------ learning

    def observe(self, host: str, from_url: str | None, to_url: str, now: float, visitor: bytes | None = None) -> bool:
        """One page view of `to_url`, reached from `from_url` (None: no same-origin referrer).

        `host` is named as `normalise_host` names it ('shop.example', '127.0.0.1:8080').
        Absolute URLs must belong to `host`; a `from_url` of another host counts the view
        without an edge. A reload (same page) is a view and no edge. Returns whether the view
        was counted (False: `to_url` names no page of `host`, or a full graph did not admit it).
        `visitor`: the viewer's hash (view_bounds.visitor_hash), recorded on the edge and asked
        for by the admission of new entries into a full graph; None: no bound.
        """
        host = host.lower()
        to_page = self._page_of(host, to_url)
        if to_page is None:
            return False
        from_page = self._page_of(host, from_url) if from_url is not None else None
        graph = self.hosts.get(host)
        if graph is None and len(self.hosts) >= self.max_hosts and not self.admission.admit(("host", host), visitor):
            return False
        if (graph is not None and to_page not in graph.pages and len(graph.pages) >= self.max_nodes_per_host
                and not self.admission.admit(("page", host, to_page), visitor)):
            return False
        graph = self._host(host, now)
        if (from_page is not None and from_page not in graph.pages and len(graph.pages) >= self.max_nodes_per_host
                and not self.admission.admit(("page", host, from_page), visitor)):
            from_page = None  # the view counts; the link waits for a second visitor
        graph.views.add(1.0, now, self.half_life_s)
        keep = {to_page, from_page}
        self._page(graph, to_page, now, keep).views.add(1.0, now, self.half_life_s)
        if from_page is not None and from_page != to_page:
            source = self._page(graph, from_page, now, keep)
            edge = source.next.get(to_page)
            if edge is None:
                if len(source.next) >= self.max_edges_per_node and not self.admission.admit(
                        ("edge", host, from_page, to_page), visitor):
                    return True  # counted as a view of to_page; the link waits for a second visitor
                edge = self._new_edge(source, to_page, now)
            edge.add(1.0, now, self.half_life_s)
            if visitor is not None:
                edge.seen = with_visitor(edge.seen, visitor)
        return True

    # ------------------------------------------------------------ predicting

    def explain(self, host: str, url: str, now: float) -> list[Prediction]:
        """Every tracked next page of `url`, most likely first, with how it was scored."""
        page = self._page_of(host.lower(), url)
        graph = self.hosts.get(host.lower())
        node = graph.pages.get(page) if graph and page else None
        if node is None:
            return []
        weights = {target: edge.at(now, self.half_life_s) for target, edge in node.next.items()}
        visitors = {target: visitor_count(edge.seen) for target, edge in node.next.items()}
        # Views normally cover the clicks out of a page; not when the page's own views were
        # evicted or predate the graph (a restart): then the clicks are the views.
        views = max(node.views.at(now, self.half_life_s), sum(weights.values()))
        denominator = views + self.prior
        predictions = [
            Prediction(target, weight / denominator if denominator > 0 else 0.0, weight, views, self.prior,
                       visitors[target])
            for target, weight in weights.items()
        ]
        predictions.sort(key=lambda p: (-p.probability, p.url))
        return predictions

    def next_pages(self, host: str, url: str, now: float) -> list[tuple[str, float]]:
        """[(page key, probability)] for the pages viewed after `url`, most likely first."""
        return [(p.url, p.probability) for p in self.explain(host, url, now)]

    def other_probability(self, host: str, url: str, now: float) -> float:
        """What the model leaves to leaving, reloading and pages it does not track."""
        return max(0.0, 1.0 - sum(p for _, p in self.next_pages(host, url, now)))

    def stats(self) -> dict[str, Any]:
        pages = sum(len(g.pages) for g in self.hosts.values())
        edges = sum(len(n.next) for g in self.hosts.values() for n in g.pages.values())
        return {
            "hosts": len(self.hosts),
            "pages": pages,
            "edges": edges,
            "evicted": dict(self.evictions),
            "half_life_s": self.half_life_s,
            "prior": self.prior,
            "caps": {"hosts": self.max_hosts, "nodes_per_host": self.max_nodes_per_host,
                     "edges_per_node": self.max_edges_per_node},
        }

    # ------------------------------------------------------------ persistence

    def to_json(self, now: float) -> dict[str, Any]:
        """A snapshot with every weight decayed to `now` (one timestamp for the whole file)."""
        h = self.half_life_s
        return {
            "format": FORMAT,
            "version": VERSION,
            "saved_at": now,
            "half_life_s": h,
            "hosts": {
                host: {
                    "views": graph.views.at(now, h),
                    "pages": {
                        page: _node_json(node, now, h)
                        for page, node in graph.pages.items()
                    },
                }
                for host, graph in self.hosts.items()
            },
        }

    def save(self, path: str | Path, now: float) -> None:
        write_json_atomically(Path(path), self.to_json(now))

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> tuple[TraversalGraph, str | None]:
        """(graph, None) from the file, a fresh graph when there is none yet, or
        (fresh graph, "why the file was not used") when it cannot be read. `options` are the
        constructor's: the caps and half-life in force now, not the file's."""
        graph = cls(**options)
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return graph, None
        except (OSError, UnicodeDecodeError) as error:
            return graph, f"traversal graph {path}: cannot read it ({error}); starting with an empty graph"
        try:
            graph._restore(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return cls(**options), f"traversal graph {path}: {error}; starting with an empty graph"
        return graph, None

    def _restore(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a traversal graph file (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise ValueError(f"format version {data.get('version')!r}, this build reads {VERSION}")
        saved_at = _number(data.get("saved_at"), "saved_at")
        hosts = data.get("hosts")
        if not isinstance(hosts, dict):
            raise ValueError('"hosts" must be an object')
        for host, entry in hosts.items():
            graph = HostGraph(Decayed(_number(entry["views"], f"{host} views"), saved_at))
            for page, node_data in entry["pages"].items():
                if page_key(page) != page:
                    raise ValueError(f"{host}: {page!r} is not a page key")
                node = PageNode(Decayed(_number(node_data["views"], f"{host}{page} views"), saved_at))
                seen = node_data.get("visitors", {})  # absent in files written before issue 22
                for target, weight in node_data["next"].items():
                    if page_key(target) != target:
                        raise ValueError(f"{host}{page}: next page {target!r} is not a page key")
                    node.next[target] = Edge(_number(weight, f"{host}{page} -> {target}"), saved_at,
                                             _visitors(seen.get(target, ""), f"{host}{page} -> {target}"))
                graph.pages[page] = node
            self.hosts[host.lower()] = graph
        self._trim_to_caps(saved_at)

    def _trim_to_caps(self, now: float) -> None:
        """After loading a file written with larger caps: drop the weakest until within ours."""
        while len(self.hosts) > self.max_hosts:
            self._evict_weakest(self.hosts, lambda g: g.views, now, "hosts")
        for graph in self.hosts.values():
            while len(graph.pages) > self.max_nodes_per_host:
                self._evict_weakest(graph.pages, lambda n: n.views, now, "pages")
            for node in graph.pages.values():
                while len(node.next) > self.max_edges_per_node:
                    self._evict_weakest(node.next, lambda e: e, now, "edges")

    # ------------------------------------------------------------ internals

    def _page_of(self, host: str, url: str | None) -> str | None:
        if url is None:
            return None
        site = site_of(url)
        if site is not None and site != host:
            return None
        return page_key(url)

    def _host(self, host: str, now: float) -> HostGraph:
        graph = self.hosts.get(host)
        if graph is None:
            if len(self.hosts) >= self.max_hosts:
                self._evict_weakest(self.hosts, lambda g: g.views, now, "hosts")
            graph = self.hosts[host] = HostGraph()
        return graph

    def _page(self, graph: HostGraph, page: str, now: float, keep: set) -> PageNode:
        """The node for `page`, made room for if new; the pages in `keep` are not evicted."""
        node = graph.pages.get(page)
        if node is None:
            if len(graph.pages) >= self.max_nodes_per_host:
                candidates = {k: v for k, v in graph.pages.items() if k not in keep} or graph.pages
                victim = self._weakest(candidates, lambda n: n.views, now)
                del graph.pages[victim]
                self.evictions["pages"] += 1
            node = graph.pages[page] = PageNode(Decayed(0.0, now))
        return node

    def _new_edge(self, node: PageNode, target: str, now: float) -> Decayed:
        if len(node.next) >= self.max_edges_per_node:
            self._evict_weakest(node.next, lambda e: e, now, "edges")
        edge = node.next[target] = Edge(0.0, now)
        return edge

    def _evict_weakest(self, entries: dict, weight_of, now: float, kind: str) -> None:
        del entries[self._weakest(entries, weight_of, now)]
        self.evictions[kind] += 1

    def _weakest(self, entries: dict, weight_of, now: float) -> str:
        return min(entries, key=lambda k: (weight_of(entries[k]).at(now, self.half_life_s), weight_of(entries[k]).t))


def _node_json(node: PageNode, now: float, half_life_s: float) -> dict[str, Any]:
    data: dict[str, Any] = {"views": node.views.at(now, half_life_s),
                            "next": {target: edge.at(now, half_life_s) for target, edge in node.next.items()}}
    # An optional key: a reader from before issue 22 ignores it, and its files have none.
    seen = {target: edge.seen.hex() for target, edge in node.next.items() if edge.seen}
    if seen:
        data["visitors"] = seen
    return data


def _visitors(value: Any, what: str) -> bytes:
    """The hex of an edge's visitor hashes, kept to MAX_VISITORS_KEPT whole hashes."""
    if not isinstance(value, str):
        raise ValueError(f"{what} visitors: expected a hex string, got {value!r}")
    try:
        seen = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} visitors: expected a hex string, got {value!r}") from None
    kept = b""
    for i in range(0, len(seen) - len(seen) % VISITOR_HASH_BYTES, VISITOR_HASH_BYTES):
        kept = with_visitor(kept, seen[i:i + VISITOR_HASH_BYTES])
    return kept


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what}: expected a non-negative number, got {value!r}")
    return float(value)


def write_json_atomically(path: Path, data: Any) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers see old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
