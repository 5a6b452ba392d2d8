"""How a layer is cut into crossbar tiles (no torch: the analog engine and the
cost model both count with it).

A layer of ``in_features`` x ``out_features`` is split into equal chunks over
its inputs and over its outputs, as aihwkit's ``TileModuleArray`` splits it:
``n = ceil(size / max)`` chunks whose sizes differ by at most one. Each (input
chunk, output chunk) pair is one tile; the paper's tiles are 512 x 512 (Li et
al., arXiv 2411.17367).
"""

from __future__ import annotations

Block = tuple[int, int, int, int]
"""One tile of a packed layer: (input chunk, first output, end output, inputs)."""

TILE_SIZE = 512
"""Rows and columns of the paper's crossbar tiles (Li et al., arXiv 2411.17367)."""


def split_sizes(size: int, max_size: int) -> tuple[int, ...]:
    """Chunk sizes of ``size`` in at most ``max_size`` pieces, as equal as can be."""
    n = (size + max_size - 1) // max_size
    base, extra = divmod(size, n)
    return tuple(base + (i < extra) for i in range(n))


def tile_count(in_features: int, out_features: int, max_inputs: int, max_outputs: int) -> int:
    """Tiles one layer occupies: one per (input chunk, output chunk).

    Example: 384 x 1536 on 512 x 512 tiles is 1 * 3 = 3 tiles."""
    return len(split_sizes(in_features, max_inputs)) * len(split_sizes(out_features, max_outputs))
