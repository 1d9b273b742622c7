"""HTTP building blocks, pure (plain values in, plain values out; no mitmproxy, no browser).

The edge cache's policy (what may be stored, for how long, what a request may be answered with:
RFC 9111, RFC 5861, RFC 9213's targeted fields), the store itself (entries, Vary, cookies, LRU
budget), the stale-if-error window arithmetic, structured-field parsing (RFC 9651, through
`http-sf`), the Speculation-Rules / Sec-Purpose header reads, and the duration syntax ("5m").
"""
