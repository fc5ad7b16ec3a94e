"""Benchmarks run as modules (`make bench`); none of these files is collected by pytest."""
