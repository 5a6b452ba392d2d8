"""Progress bars for the verbs (stderr; none when it is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def step_bar(desc: str, quiet: bool = False) -> tuple[Callable[[dict[str, Any]], None], Any]:
    """A training progress callback and its bar (close it when done)."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, unit="step", file=sys.stderr, disable=True if quiet else None)

    def progress(p: dict[str, Any]) -> None:
        bar.total = p["total"]
        bar.n = p["step"]
        bar.set_postfix(loss=f"{p['loss']:.4f}", lr=f"{p['lr']:.2e}")
        bar.refresh()

    return progress, bar


def cell_bar(desc: str, quiet: bool = False) -> tuple[Callable[[dict[str, Any]], None], Any]:
    """A sweep progress callback and its bar."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, unit="cell", file=sys.stderr, disable=True if quiet else None)

    def progress(p: dict[str, Any]) -> None:
        bar.total, bar.n = p["total"], p["done"]
        value = "" if p.get("value") is None else f" {p['metric']} {p['value']:.2f}"
        bar.set_postfix_str(f"chip {p['chip_seed']} t={p['t_s']:g}s{value}")
        bar.refresh()

    return progress, bar
