"""Benchmarks that write JSON results, for the notes, the plots and the notebooks."""
