"""Deterministic, realistic Vietnamese demo records for the baseline datasets."""
