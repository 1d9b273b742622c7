"""The rules the edge runs on, pure: rule files (YAML) and their model, path patterns, rule-file
watching, and what the rules become for the browser: the Speculation Rules document (with the
regex-to-JavaScript translator it needs) and the cache manifest Edgio's client evaluates.
"""
