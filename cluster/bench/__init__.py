"""Benchmarks that write JSON results for the notes, plots and notebooks."""
