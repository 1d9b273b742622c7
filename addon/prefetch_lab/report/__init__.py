"""The HTML report (scripts/report): renders an audit.json (and its raw runs) or a bare trail with
Jinja2 and Plotly. `data` assembles what the page shows of an audit from `verdicts` (sentences),
`tables` (cells from `cells`, arms from `arms`), `series` and `waterfall` (the charts' plain
data); `charts` draws the figures, `trail_view` the report of a bare trail, and `render` puts them
in the template. It reads the audit's JSON and the trail (through `prefetch_lab.trail`), never
the audit's code: it may import `trail`, `stats`, `url_keys`, `prefetch_mechanism` and
`formatting`, not `prefetch_lab.audit`.
"""
