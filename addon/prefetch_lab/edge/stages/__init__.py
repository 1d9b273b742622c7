"""One mitmproxy addon per concern, each a top-level entry of addon/prefetch.py's list (so
mitmproxy's `safecall` isolates it), each with its own options. See docs/DESIGN.md for the route.
"""
