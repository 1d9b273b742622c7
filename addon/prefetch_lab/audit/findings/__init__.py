"""Findings: what the audit tells the user, each reading the computed data, one module per
finding: `not_prefetched` (why a navigation was not prefetched) and `advice` (the reasons'
wording, remedies and ranking), `double_fetches` (prefetched, then fetched again), and
`summary_table` (the table `scripts/audit` prints). Pure modules.
"""
