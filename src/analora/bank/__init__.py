"""Adapter banks on disk (``analora bank``) and their mixed-task sweeps.

The in-memory bank is :class:`analora.adapters.bank.AdapterBank`."""

from analora.bank.disk import (
    BankError,
    add_to_bank,
    load_bank,
    read_bank,
    remove_from_bank,
    verify_bank,
    weight_counts,
)

__all__ = [
    "BankError",
    "add_to_bank",
    "load_bank",
    "read_bank",
    "remove_from_bank",
    "verify_bank",
    "weight_counts",
]
