"""From an audit to a deployment: every link seen, classified (prefetch / excluded / unsafe /
uncacheable), grouped into path patterns a person would write, and the site's own rule files
(prefetch-rules.yaml, speculation-rules.json, README.md). Pure: plain values in and out."""
