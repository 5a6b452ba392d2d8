"""Per-task training defaults: the settings under which each task learns.

A recipe fills what the user leaves out (``None`` in a
:class:`~analora.workflows.train.RunSpec`); anything given on the command line
wins. Recipes are per task and per kind of training: adapters (LoRA plus the
task head) and full-weight training (``digital``, ``ahwa``). Where a value
comes from, and the runs behind it, is written in ``docs/recipes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from analora.training.registry import get_method


@dataclass(frozen=True)
class Recipe:
    """Optimiser and data settings of one (task, kind of training)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-4
    warmup_ratio: float = 0.0
    max_length: int | None = None
    """None: the task's own (128 for GLUE, 384 for SQuAD)."""


_ADAPTER = Recipe()
_WEIGHTS = Recipe(lr=5e-5)

RECIPES: dict[tuple[str, str], Recipe] = {}
"""``(task, "adapter" | "weights")`` -> recipe; missing pairs use the defaults above."""


def recipe_for(task: str, method: str) -> Recipe:
    """The recipe of ``task`` for ``method`` (its registry entry says whether
    it trains an adapter, every weight, or nothing)."""
    entry = get_method(method)
    kind = "adapter" if entry.trains == "adapter" else "weights"
    base = _ADAPTER if kind == "adapter" else _WEIGHTS
    found = RECIPES.get((task, kind), base)
    if entry.trains == "weights" and found.lr != entry.default_lr and (task, kind) not in RECIPES:
        found = replace(found, lr=entry.default_lr)
    return found
