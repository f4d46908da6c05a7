"""Benchmarks: one command each, printing a table beside a baseline measured in the same run."""
