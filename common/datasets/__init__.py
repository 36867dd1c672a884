"""Embedded default data sets and the readers for the named data sets."""
