"""The edge: mitmproxy addons that play a prefetching CDN in front of any site.

`stages/` holds one small addon per concern; addon/prefetch.py lists them in the order a request
travels (the route). They never import each other: they share one `context.EdgeContext` (the
store, the rules, the options they read on the hot path, the trail, origin fetches and each flow's
`FlowState`), and an earlier stage hands a decision to later ones by writing it into the flow's
state. The modules beside `stages/` are what several stages use: header reads, the responses the
edge makes, storage, origin fetches and the mitmproxy internals the edge relies on.
"""
