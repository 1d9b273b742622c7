"""Findings: one module per thing the audit tells the user, each reading the computed data."""
