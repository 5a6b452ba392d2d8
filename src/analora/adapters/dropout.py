"""LoRA dropout with a cheaper mask.

peft puts an ``nn.Dropout`` on the input of every LoRA branch. On a CPU its
mask costs a ``bernoulli_`` draw per element, one 32-bit draw each from the
generator: on the packaged MiniLM that was 22 % of a ``digital-lora`` step
at batch 32 x 32 tokens, about as much as the branch's input projection
itself. :class:`LoraDropout` draws 64-bit words instead and cuts each into
four 16-bit numbers, a quarter of the generator calls, and compares them
with a threshold: the same inverted dropout (a kept element is scaled by
``1 / (1 - p)``, so the branch's expected input is unchanged), with the
drop probability rounded to a multiple of 2**-16 (0.1 -> 0.100006) and the
scale taken from the rounded value, so the expectation stays exact.

The mask comes from torch's default generator on the input's device, so
``torch.manual_seed`` (the training loop's seed) fixes it as before.
``benchmarks/bench_padding.py`` measures a step with each (docs/performance.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LEVELS = 1 << 16
"""Resolution of the drop probability: it is a multiple of ``1 / LEVELS``."""


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """A boolean mask of ``shape`` whose elements are False with probability
    ``round(p * 2**16) / 2**16``, and the scale ``1 / P(keep)`` of a kept element."""
    dropped_levels = min(round(p * LEVELS), LEVELS - 1)  # p near 1 keeps one level
    n = math.prod(shape)
    words = -(-n // 4)
    bits = torch.randint(-(2**63), 2**63 - 1, (words,), dtype=torch.int64, device=device)
    uniform16 = bits.view(torch.int16)[:n].view(shape)  # each in [-2**15, 2**15)
    keep = uniform16 >= dropped_levels - LEVELS // 2
    return keep, LEVELS / (LEVELS - dropped_levels)


class LoraDropout(nn.Module):
    """Inverted dropout (``nn.Dropout``'s contract) with :func:`keep_mask`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p={p!r} must be in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or round(self.p * LEVELS) == 0:
            return x
        keep, scale = keep_mask(x.shape, self.p, x.device)
        # where() keeps only the boolean mask for the backward pass.
        return torch.where(keep, x, x.new_zeros(())) * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_lora_dropout(model: nn.Module) -> int:
    """Replace the ``nn.Dropout`` of every LoRA branch in a peft model with
    :class:`LoraDropout` of the same ``p``; returns how many were replaced."""
    replaced = 0
    for module in model.modules():
        branches = getattr(module, "lora_dropout", None)
        if not isinstance(branches, nn.ModuleDict):
            continue
        for name, drop in list(branches.items()):
            if isinstance(drop, nn.Dropout):
                branches[name] = LoraDropout(drop.p)
                replaced += 1
    return replaced
