"""The HTML report (scripts/report): renders an audit.json (and its trails) or a bare trail with
Jinja2 and Plotly. `data` shapes tables, `charts` the figures, `trail_view` the trail's pages,
`render` puts them in the template.
"""
