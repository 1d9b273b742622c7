"""One small mitmproxy-style addon per concern, each with its own options and hooks, listed in
addon/prefetch.py in route order and run by edge/route.py's EdgeRoute, which isolates each one
as mitmproxy's `safecall` isolates an addon. See docs/DESIGN.md for the route.
"""
