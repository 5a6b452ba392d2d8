"""Workflows: each thing analora does end to end, as one typed function.

The CLI, the demo and the studies call these; none of them builds argv.

* :func:`train_run` (``analora train``): a :class:`RunSpec` into a run directory.
* :func:`program_chip` (``analora chip program``): a model onto a saved chip.
* :func:`sweep_run` (``analora sweep``): a deployment over chips x ages.
* :func:`build_report` (``analora report``): tables and plots from results.
"""

from analora.workflows.chips import program_chip
from analora.workflows.report import build_report
from analora.workflows.sweep import SweepSpec, sweep_run
from analora.workflows.train import Run, RunSpec, train_run

__all__ = [
    "Run",
    "RunSpec",
    "SweepSpec",
    "build_report",
    "program_chip",
    "sweep_run",
    "train_run",
]
