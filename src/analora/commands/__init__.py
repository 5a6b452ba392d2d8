"""The CLI's verbs: each parses its flags into a typed spec and calls one
workflow function (:mod:`analora.workflows`, :mod:`analora.bank`,
:mod:`analora.studies`), then prints what it did."""

from __future__ import annotations

from typing import Any


def register_all(sub: Any) -> None:
    """Add every verb to the ``analora`` parser."""
    from analora.commands import bank, chip, demo, hardware, study, sweep, train
    from analora.cost.cli import register as register_cost
    from analora.tasks.cli import register as register_tasks

    chip.register(sub)
    hardware.register(sub)
    register_tasks(sub)
    train.register(sub)
    sweep.register(sub)
    demo.register(sub)
    register_cost(sub)
    bank.register(sub)
    study.register(sub)
