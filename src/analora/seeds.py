"""Seeds derived from named parts.

Every random draw in analora (a chip's programming noise, one read of a chip,
the output noise of a forward pass) gets its own seed derived from the parts
that identify it, so the same parts always give the same bits, independent of
the order in which other draws happen.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from an ordered tuple of parts (ints, floats, strings).

    Floats are written with ``repr`` so that ``3600.0`` and ``3600`` differ only
    if the caller passes different types; callers pass ages as float seconds.
    """
    text = "\x1f".join(repr(p) for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(*parts: object, device: torch.device | str | None = None) -> torch.Generator:
    """A torch generator on ``device`` (the CPU when None) seeded by
    :func:`derive_seed` of ``parts``.

    Each device type has its own generator (CPU: Mersenne Twister; CUDA:
    Philox), so the same seed gives the same bits on the same device type and
    the same distribution, but not the same bits, on another.
    """
    dev = torch.device("cpu") if device is None else torch.device(device)
    return torch.Generator(device=dev).manual_seed(derive_seed(*parts))


# Gaussian noise in parallel. torch's CPU ``normal_`` runs on one thread, and
# the analog forward draws one normal per output (tens of millions per
# MiniLM batch), so large draws are split into a fixed number of chunks, each
# with its own generator seeded from the caller's generator, and filled by a
# small thread pool (``normal_`` releases the GIL). The split does not depend
# on the number of threads, so the bits are the same on any machine.
_CHUNKS = 2
_PARALLEL_MIN = 1 << 18
_pool: ThreadPoolExecutor | None = None
_pool_pid = -1


def _executor() -> ThreadPoolExecutor:
    # A forked child (DataLoader workers, multi-process launchers) inherits the
    # pool object but not its threads: make a new pool in each process.
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=_CHUNKS, thread_name_prefix="analora-rng")
        _pool_pid = os.getpid()
    return _pool


def normal_(out: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Fill a contiguous tensor with N(0, 1) draws, in place.

    ``generator`` must be on ``out``'s device (the device's global RNG when
    None). Small tensors, and tensors off the CPU (whose generators are
    already parallel), draw straight from it. Large CPU ones advance it by
    one draw, which seeds ``_CHUNKS`` child generators.
    """
    n = out.numel()
    if n < _PARALLEL_MIN or not out.is_contiguous() or out.device.type != "cpu":
        return out.normal_(generator=generator)
    parent = int(torch.randint(0, 2**62, (1,), generator=generator, device=out.device).item())
    flat = out.view(-1)
    bounds = [n * k // _CHUNKS for k in range(_CHUNKS + 1)]
    gens = [torch.Generator().manual_seed(derive_seed(parent, k)) for k in range(_CHUNKS)]
    chunks = [flat[bounds[k] : bounds[k + 1]] for k in range(_CHUNKS)]
    if torch.get_num_threads() < 2:
        for c, g in zip(chunks, gens, strict=True):
            c.normal_(generator=g)
        return out
    futures = [
        _executor().submit(c.normal_, generator=g)
        for c, g in zip(chunks[1:], gens[1:], strict=True)
    ]
    chunks[0].normal_(generator=gens[0])
    for f in futures:
        f.result()
    return out


def randn(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A new float32 tensor of N(0, 1) draws (see :func:`normal_`) on
    ``generator``'s device, or on ``device`` when no generator is given."""
    if generator is not None:
        if device is not None and torch.device(device).type != generator.device.type:
            raise ValueError(
                f"a generator on {generator.device} cannot fill a tensor on {device}: "
                "create the generator on the tensor's device (seeds.generator(..., device=))"
            )
        device = generator.device
    return normal_(torch.empty(shape, device=device), generator)
