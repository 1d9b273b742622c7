"""Computed data: what the audit derives from the gathered runs and the proxy's trail, before any
judgement. `gathered_run` cleans one (arm, run) and indexes it; `navigations` and `prefetches`
build the two row lists of audit.json; `prefetch_use` joins them (which prefetch served which
navigation); `contention` counts prefetches that competed with a page's critical requests;
`summary` pools the rows per arm. Pure modules: plain dicts in, plain dicts out.
"""
