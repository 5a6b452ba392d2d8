"""Batches padded to their own longest sequence (dynamic padding).

Tokenised splits are stored padded to the task's ``max_length`` (one shape,
one cache file); each batch is cut back to the longest row it holds before
the model sees it. Tokenizers here pad on the right, so dropping the trailing
columns that every row pads removes no token. Analog results do not depend
on it: abs-max input scaling, the converters and per-vector bound management
act on each token's vector alone (``analog/mvm.py``), and attention masks the
padding either way.

Training groups sequences of similar length (the idea of Hugging Face's
length-grouped sampler): a seeded permutation is cut into windows of
``GROUP_WINDOW_BATCHES`` batches, each window is sorted by length and cut
into batches, and the batches are shuffled with a second seeded permutation.
The same seed and epoch give the same batches, so resume stays exact.
Evaluation sorts the whole split by length and restores the order after.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import Tensor

from analora.seeds import generator

Batch = dict[str, Tensor]

GROUP_WINDOW_BATCHES = 50
"""Batches per sorting window: large enough that most batches hold similar
lengths, small enough that batches of all lengths appear in every part of
an epoch (Hugging Face's ``LengthGroupedSampler`` uses 50 as well)."""


def sequence_lengths(data: Mapping[str, Tensor]) -> Tensor | None:
    """``[N]`` tokens per row (the attention mask's sum), or None without a mask."""
    mask = data.get("attention_mask")
    if mask is None or mask.dim() != 2:
        return None
    return mask.sum(dim=1)


def trim_padding(batch: Mapping[str, Tensor]) -> Batch:
    """``batch`` with every ``[N, L]`` sequence tensor cut to the longest row.

    Left as it is when the mask does not pad on the right (a mask whose ones
    are not a prefix of each row)."""
    out = dict(batch)
    mask = batch.get("attention_mask")
    if mask is None or mask.dim() != 2 or mask.shape[0] == 0:
        return out
    width = mask.shape[1]
    longest = max(1, int(mask.sum(dim=1).max()))
    if longest >= width or bool(mask[:, longest:].any()):
        return out
    for key, value in batch.items():
        if value.dim() == 2 and value.shape[1] == width:
            out[key] = value[:, :longest]
    return out


def n_batches(n: int, batch_size: int, min_size: int = 1) -> int:
    """Batches per epoch; a last partial batch shorter than ``min_size`` (the
    number of processes, each of which needs a row) is dropped."""
    return n // batch_size + (1 if n % batch_size >= min_size else 0)


def batch_indices(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    min_size: int = 1,
    lengths: Tensor | None = None,
) -> list[Tensor]:
    """The row indices of each training batch of one epoch.

    Without ``lengths``: a seeded permutation cut into batches. With them:
    length-grouped batches (module docstring), in a seeded order."""
    order = torch.randperm(n, generator=generator(seed, "order", epoch))
    if lengths is not None:
        window = batch_size * GROUP_WINDOW_BATCHES
        parts = []
        for start in range(0, n, window):
            part = order[start : start + window]
            ranks = torch.argsort(lengths[part], descending=True, stable=True)
            parts.append(part[ranks])
        order = torch.cat(parts)
    batches = [
        order[i * batch_size : (i + 1) * batch_size]
        for i in range(n_batches(n, batch_size, min_size))
    ]
    if lengths is not None:
        shuffle = torch.randperm(len(batches), generator=generator(seed, "batches", epoch))
        batches = [batches[int(j)] for j in shuffle]
    return batches


def eval_batches(data: Mapping[str, Tensor], batch_size: int) -> Iterator[tuple[Tensor, Batch]]:
    """``(rows, batch)`` over a split sorted by length (longest first), each
    batch trimmed; ``rows`` are the batch's row indices in ``data``."""
    n = len(next(iter(data.values())))
    lengths = sequence_lengths(data)
    if lengths is None:
        order = torch.arange(n)
    else:
        order = torch.argsort(lengths, descending=True, stable=True)
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        yield rows, trim_padding({k: v[rows] for k, v in data.items()})


def unsort(parts: list[Tensor], rows: list[Tensor]) -> Tensor:
    """The outputs of :func:`eval_batches`' batches, back in the split's order."""
    out = torch.cat(parts)
    index = torch.cat(rows)
    result = torch.empty_like(out)
    result[index.to(out.device)] = out
    return result
