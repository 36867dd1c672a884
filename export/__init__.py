"""Exporter: one table of formats, parity checks and benchmarks (see the export issue)."""
