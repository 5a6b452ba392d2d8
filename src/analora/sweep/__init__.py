"""Drift sweeps over chips and ages, their results as data, and reports.

``analora.sweep.results`` and ``analora.sweep.report`` import no torch:
results are read, combined and reported from their files alone.
"""

from analora.sweep.results import DEFAULT_TIMES_S, read_results, time_label, write_results

__all__ = ["DEFAULT_TIMES_S", "read_results", "time_label", "write_results"]
