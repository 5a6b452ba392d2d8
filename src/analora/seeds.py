"""Seeds derived from named parts.

Every random draw in analora (a chip's programming noise, one read of a chip,
the output noise of a forward pass) gets its own seed derived from the parts
that identify it, so the same parts always give the same bits, independent of
the order in which other draws happen.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from an ordered tuple of parts (ints, floats, strings).

    Floats are written with ``repr`` so that ``3600.0`` and ``3600`` differ only
    if the caller passes different types; callers pass ages as float seconds.
    """
    text = "\x1f".join(repr(p) for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(*parts: object) -> torch.Generator:
    """A CPU torch generator seeded by :func:`derive_seed` of ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))
