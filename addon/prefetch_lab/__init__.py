"""Prefetch Lab: a mitmproxy addon that emulates CDN predictive prefetching
(Edgio predictive prefetch, Cloudflare Speed Brain) for any site."""

__version__ = "0.1.0"
