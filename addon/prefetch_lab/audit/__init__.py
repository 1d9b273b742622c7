"""The browser audit (scripts/audit), laid out as a pipeline like Lighthouse's: `gather/` drives
Chromium through a real mitmdump process (drivers, the walk, the network shaper, the proxy
process) and returns raw runs; `computed/` derives navigations, prefetches and metrics from them
and from the proxy's trail (pure); `findings/` holds one module per finding (advice, ...);
`analyze` runs computed/ then findings/ over the gathered runs; `run` sequences plan -> arms x
runs -> analyze -> report, and `cli` is the command line. It never
imports the edge: the proxy is a process and its trail is read through `prefetch_lab.trail`.
"""
