"""mitmdump -s addon/prefetch.py: CDN-style predictive prefetching for any site.

A thin shim: the code lives in the prefetch_lab package beside this file (mitmproxy puts this
folder on sys.path). Hot reload re-runs only this file; restart after editing the package.

The list below is the edge's route: each event runs through the stages in this order, each
stage isolated from the others (an exception in one cannot skip another: edge/route.py). The
stages share one context and never import each other; docs/DESIGN.md draws the route.
"""

from prefetch_lab.edge.context import EdgeContext
from prefetch_lab.edge.route import EdgeRoute
from prefetch_lab.edge.stages.background import BackgroundFetches
from prefetch_lab.edge.stages.classify import Classify
from prefetch_lab.edge.stages.collapse import Collapse
from prefetch_lab.edge.stages.edge_files import EdgeFilesStage
from prefetch_lab.edge.stages.edge_headers import EdgeHeaders
from prefetch_lab.edge.stages.gate import PrefetchGate
from prefetch_lab.edge.stages.invalidate import Invalidation
from prefetch_lab.edge.stages.latency import EdgeLatency
from prefetch_lab.edge.stages.learning import Learning
from prefetch_lab.edge.stages.lookup import CacheLookup
from prefetch_lab.edge.stages.option_check import OptionCheck
from prefetch_lab.edge.stages.origin_clock import OriginClock
from prefetch_lab.edge.stages.revalidate import Revalidation
from prefetch_lab.edge.stages.rewrite import Rewrite
from prefetch_lab.edge.stages.rules_files import RulesFiles
from prefetch_lab.edge.stages.stale_if_error import StaleIfError
from prefetch_lab.edge.stages.store import Store
from prefetch_lab.edge.stages.stream import Stream
from prefetch_lab.edge.stages.summary import SessionSummary
from prefetch_lab.edge.stages.surrogate import SurrogateCapability
from prefetch_lab.edge.stages.trail_file import TrailFile

edge = EdgeContext()
stale_if_error, collapse = StaleIfError(edge), Collapse(edge)  # each also has a response-side part
route = [
    # set-up: the trail first, so that everything configured after it is on the trail
    TrailFile(edge),             # prefetch_audit_file
    RulesFiles(edge),            # prefetch_rules, hot reload
    # request: answered at the edge, or sent on to the origin
    Learning(edge),              # a page's learned rules document; learns page views (response)
    EdgeFilesStage(edge),        # /__edgio__/ files: install.js, service worker, manifest, rules
    Classify(edge),              # cache key, rule features, prefetch or not
    CacheLookup(edge),           # the decision (serve / revalidate / stale-if-error / miss / refused); serves hits
    PrefetchGate(edge),          # refuses prefetches the edge cannot serve: never to the origin
    Revalidation(edge),          # sends stored validators; a 304 freshens the entry
    stale_if_error,              # expired entries inside stale-if-error: the edge fetches them itself
    collapse,                    # concurrent misses for a key wait for the first
    SurrogateCapability(),       # tells the origin it talks to a surrogate
    OriginClock(edge),           # the origin timeout: from here to the response headers
    # response: what the origin sent, on its way back
    Stream(edge),                # streamed responses: injected and kept for the cache in the stream
    Rewrite(edge),               # install.js into buffered HTML pages
    Store(edge),                 # into the edge cache, or not (caching status)
    EdgeHeaders(edge),           # x-edg-caching-status, rule headers, Speculation-Rules
    stale_if_error.fallback,     # an origin 5xx swapped for the stale entry; the refetch after a 304
    collapse.release,            # the waiters go: served from the cache, or sent on to the origin
    BackgroundFetches(edge),     # the edge's own fetches end: slots and key locks freed
    Invalidation(edge),          # unsafe methods drop stored responses
    EdgeLatency(),               # browser-edge and edge-origin distance
    # the session
    SessionSummary(edge),        # console lines and the summary at exit
    OptionCheck(),               # last: every option is registered before --set values are checked
]
addons = [EdgeRoute(route)]  # mitmproxy sees one addon; the route runs the stages in order
