"""Tile geometry: how one linear layer is split over crossbar tiles.

A layer of ``in_features`` x ``out_features`` is split into equal chunks over
its inputs and its outputs (:mod:`analora.hardware.tiling`, as aihwkit's
``TileModuleArray`` splits it). Each (input chunk,
output chunk) pair is one tile; partial sums of the input chunks are added
digitally.

Internally a layer's weights are *packed* as ``w[n_in, out, c]``: input chunk
``i`` holds the weights of its ``c_i <= c`` inputs, zero-padded to ``c``, and
inputs as ``x[N, n_in, c]`` (a view of ``x[N, in]`` when the chunks are
equal). All output chunks of one input chunk share that slice (they differ
only in which columns they own), so each input chunk is one matmul.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from analora.hardware.tiling import Block, split_sizes


@dataclass(frozen=True)
class TileGeometry:
    """Split of one ``out_features x in_features`` layer over tiles."""

    in_features: int
    out_features: int
    in_sizes: tuple[int, ...]
    out_sizes: tuple[int, ...]

    @classmethod
    def for_layer(
        cls, in_features: int, out_features: int, max_inputs: int, max_outputs: int
    ) -> TileGeometry:
        return cls(
            in_features,
            out_features,
            split_sizes(in_features, max_inputs),
            split_sizes(out_features, max_outputs),
        )

    @property
    def n_in(self) -> int:
        return len(self.in_sizes)

    @property
    def n_out(self) -> int:
        return len(self.out_sizes)

    @property
    def n_tiles(self) -> int:
        return self.n_in * self.n_out

    @property
    def chunk(self) -> int:
        """Padded input-chunk length ``c``."""
        return self.in_sizes[0]

    @property
    def is_even(self) -> bool:
        return all(s == self.chunk for s in self.in_sizes)

    @cached_property
    def out_bounds(self) -> tuple[tuple[int, int], ...]:
        bounds, start = [], 0
        for s in self.out_sizes:
            bounds.append((start, start + s))
            start += s
        return tuple(bounds)

    @cached_property
    def blocks(self) -> list[Block]:
        """Every tile as (input chunk, first output, end output, inputs)."""
        return [(i, o0, o1, c) for i, c in enumerate(self.in_sizes) for o0, o1 in self.out_bounds]

    @cached_property
    def out_tile_index(self) -> Tensor:
        """``[out]``: the output chunk each output column belongs to (CPU)."""
        return torch.repeat_interleave(torch.arange(self.n_out), torch.tensor(self.out_sizes))

    @cached_property
    def _gather_index(self) -> Tensor:
        # Column of the (zero-extended) input feeding each packed position;
        # padded positions read the extra zero column at index in_features.
        idx = torch.full((self.n_in, self.chunk), self.in_features, dtype=torch.long)
        start = 0
        for i, c in enumerate(self.in_sizes):
            idx[i, :c] = torch.arange(start, start + c)
            start += c
        return idx

    @cached_property
    def _on_device(self) -> dict[tuple[str, torch.device], Tensor]:
        return {}

    def _index(self, name: str, device: torch.device) -> Tensor:
        """Index tensor ``name`` on ``device``, copied there once."""
        key = (name, device)
        found = self._on_device.get(key)
        if found is None:
            found = self._on_device[key] = getattr(self, name).to(device)
        return found

    def pack_weight(self, weight: Tensor) -> Tensor:
        """``[out, in]`` -> ``[n_in, out, c]`` (zero-padded)."""
        if self.n_in == 1:
            return weight.unsqueeze(0).clone()
        padded = torch.cat([weight, weight.new_zeros(weight.shape[0], 1)], dim=1)
        idx = self._index("_gather_index", weight.device)
        return padded[:, idx].permute(1, 0, 2).contiguous()

    def unpack_weight(self, packed: Tensor) -> Tensor:
        """``[n_in, out, c]`` -> ``[out, in]``."""
        if self.n_in == 1:
            return packed[0]
        return torch.cat([packed[i, :, :c] for i, c in enumerate(self.in_sizes)], dim=1)

    def pack_input(self, x: Tensor) -> Tensor:
        """``[N, in]`` -> ``[N, n_in, c]`` (a view when the split is even)."""
        n = x.shape[0]
        if self.is_even:
            return x.view(n, self.n_in, self.chunk)
        padded = torch.cat([x, x.new_zeros(n, 1)], dim=1)
        return padded[:, self._index("_gather_index", x.device)]

    def unpack_input(self, packed: Tensor) -> Tensor:
        """``[N, n_in, c]`` -> ``[N, in]`` (drops padding)."""
        if self.is_even:
            return packed.reshape(packed.shape[0], -1)
        return torch.cat([packed[:, i, :c] for i, c in enumerate(self.in_sizes)], dim=1)

    def per_tile_to_columns(self, per_tile: Tensor) -> Tensor:
        """``[n_in, n_out]`` per-tile values -> ``[n_in, out]`` per column."""
        return per_tile[:, self._index("out_tile_index", per_tile.device)]

    def tile_max(self, packed: Tensor) -> Tensor:
        """``[n_in, out, 1]``: max |w| of the tile each weight row sits on."""
        row_max = packed.abs().amax(dim=-1)  # [n_in, out]
        per_tile = torch.stack(
            [row_max[:, o0:o1].amax(dim=1) for o0, o1 in self.out_bounds], dim=1
        )  # [n_in, n_out]
        return self.per_tile_to_columns(per_tile).unsqueeze(-1)

    def tile_std(self, packed: Tensor) -> Tensor:
        """``[n_in, out, 1]``: std (unbiased) of the real weights of each tile."""
        out = torch.empty(self.n_in, self.n_out, dtype=packed.dtype, device=packed.device)
        for i, c in enumerate(self.in_sizes):
            for j, (o0, o1) in enumerate(self.out_bounds):
                out[i, j] = packed[i, o0:o1, :c].std()
        return self.per_tile_to_columns(out).unsqueeze(-1)
