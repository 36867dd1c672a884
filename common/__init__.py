"""Shared library: config, data, augmentation, precision, training driver, metrics, plots, runs."""
