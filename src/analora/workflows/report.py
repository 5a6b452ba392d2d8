"""``build_report``: Markdown tables, PNG plots and an HTML page from result
files only (:mod:`analora.sweep.report`)."""

from analora.sweep.report import build_report

__all__ = ["build_report"]
