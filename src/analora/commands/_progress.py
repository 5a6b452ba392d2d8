"""Progress of training and sweeps on stderr (:mod:`analora.progress`: a
line rewritten on a terminal, a line every few percent with the time left
elsewhere; ``--quiet``/``--verbose`` set the level)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analora.progress import Progress


def step_bar(desc: str) -> tuple[Callable[[dict[str, Any]], None], Progress]:
    """A training progress callback and its report (close it when done)."""
    bar = Progress(desc, unit="step")

    def progress(p: dict[str, Any]) -> None:
        bar.set_total(p["total"])
        bar.update(p["step"] - bar.done, note=f"loss {p['loss']:.4f} lr {p['lr']:.2e}")

    return progress, bar


def cell_bar(desc: str) -> tuple[Callable[[dict[str, Any]], None], Progress]:
    """A sweep progress callback and its report."""
    bar = Progress(desc, unit="cell")

    def progress(p: dict[str, Any]) -> None:
        bar.set_total(p["total"])
        value = "" if p.get("value") is None else f" {p['metric']} {p['value']:.2f}"
        bar.update(p["done"] - bar.done, note=f"chip {p['chip_seed']} t={p['t_s']:g}s{value}")

    return progress, bar
