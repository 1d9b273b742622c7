"""Conformance runs against the edge: `cache_tests` runs the HTTP Caching Tests suite (npm
`http-caching-tests`) through a real mitmdump and scores it (scripts/cachetests).
"""
