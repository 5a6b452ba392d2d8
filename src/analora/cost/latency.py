"""Latency of the digital LoRA branch beside the analog MVM of one layer.

The deployment of Li et al. (arXiv 2411.17367) pairs each AIMC tile with a
small RISC-V cluster: 8 compute cores with FP16 SIMD, a RedMulE matrix unit
with 32 FMA blocks (Tortorella et al., "RedMulE: A Compact FP16
Matrix-Multiplication Accelerator for Adaptive Deep Learning on RISC-V-Based
Ultra-Low-Power SoCs", DATE 2022, arXiv 2204.11192) and 128 KiB of local
memory. The analog tile takes one token per integration time (128, 256 or
512 ns); tokens go through in blocks of N (8 to 128).

Model, per block of N tokens of a layer ``in -> out`` with LoRA rank r:

- analog: ``N * t_int`` (a layer wider than one tile runs its tiles in
  parallel, so its latency does not grow with its size);
- digital: ``(N r (in + out) / (fma_units * utilisation) + setup) / f``
  (``x A^T`` then ``(x A^T) B^T`` on RedMulE; the cores only orchestrate);
- pipeline over a sequence: the analog MVMs of block k + 1 run while the
  cluster computes the LoRA branch of block k, so the sequence takes
  ``fill + n_blocks * max(analog, digital)`` with equal blocks (fill: the
  faster stage once); a short last block is computed exactly
  (:func:`pipelined_total_ns`);
- overhead against analog alone: ``total / (seq_len * t_int) - 1``;
- local memory: FP16 A and B, N inputs, N rank-r intermediates, N outputs;
  inputs and outputs double-buffered by default (the next block's inputs
  arrive and the last block's outputs leave while a block computes).

The whole LoRA of a layer runs on one cluster here, even when the layer
spans several tiles (and so several clusters); splitting it would divide
the digital time, a refinement this model leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analora.cost.checks import (
    CostError,
    check_fields,
    check_int,
    check_number,
    describe,
    param,
)

INTEGRATION_TIMES_NS = (128.0, 256.0, 512.0)
"""AIMC integration times per MVM studied by Li et al. (arXiv 2411.17367)."""

TOKEN_COUNTS = (8, 16, 32, 64, 128)
"""Tokens processed in parallel studied by Li et al. (arXiv 2411.17367)."""

SEQ_LEN = 320
"""Sequence length of the paper's SQuAD runs (Li et al., arXiv 2411.17367)."""


@dataclass(frozen=True)
class ClusterConfig:
    """The digital cluster beside one tile."""

    cluster_frequency_hz: float = param(
        666e6,
        "float",
        "cluster clock (Hz)",
        "Tortorella et al., DATE 2022: RedMulE's maximum operating frequency, 666 MHz in 22 nm",
        min=0.0,
        open=True,
    )
    fma_units: int = param(
        32,
        "int",
        "FP16 FMA blocks of the RedMulE unit",
        "Li et al., arXiv 2411.17367 and Tortorella et al., DATE 2022: a 32-FMA RedMulE",
        min=1,
    )
    utilisation: float = param(
        0.988,
        "float",
        "fraction of FMA blocks busy per cycle",
        "Tortorella et al., DATE 2022: 31.6 MAC/cycle of 32 (98.8 %), measured on large "
        "matrices; a rank-8 product likely runs below it",
        min=0.0,
        open=True,
        max=1.0,
    )
    setup_cycles_per_block: float = param(
        100.0,
        "float",
        "cycles to configure RedMulE and start the transfers, per block",
        "no public source; a parameter",
        min=0.0,
    )
    local_memory_bytes: int = param(
        131072,
        "int",
        "cluster local memory (bytes)",
        "Li et al., arXiv 2411.17367: 128 KiB",
        min=1,
    )
    bytes_per_value: int = param(
        2,
        "int",
        "bytes per stored value",
        "FP16 (IEEE 754 binary16), the cluster's number format in Li et al.",
        min=1,
    )
    double_buffer: bool = param(
        True,
        "bool",
        "hold two blocks of inputs and outputs (pipelined transfers)",
        "a modelling choice that the pipeline needs; a parameter",
    )

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def macs_per_cycle(self) -> float:
        return self.fma_units * self.utilisation

    def describe(self) -> list[dict[str, Any]]:
        return describe(self)


def _layer(in_features: int, out_features: int, rank: int) -> None:
    check_int("in_features", in_features, 1, "--layer IN OUT")
    check_int("out_features", out_features, 1, "--layer IN OUT")
    check_int("rank", rank, 1, "--rank")


def lora_macs(tokens: int, in_features: int, out_features: int, rank: int) -> int:
    """MACs of the LoRA branch for ``tokens`` tokens: ``N r (in + out)``
    (``h = x A^T``: N r in; ``y = h B^T``: N r out; Hu et al., ICLR 2022).
    Example: 8 tokens, 384 x 384, r = 8: 8 * 8 * 768 = 49,152."""
    check_int("tokens", tokens, 1, "--tokens")
    _layer(in_features, out_features, rank)
    return tokens * rank * (in_features + out_features)


def digital_block_ns(
    tokens: int,
    in_features: int,
    out_features: int,
    rank: int,
    cluster: ClusterConfig | None = None,
) -> float:
    """Time of the LoRA branch for one block on RedMulE:
    ``(MACs / (fma_units * utilisation) + setup cycles) / f``.

    Sources: 32 FMA blocks, 31.6 MAC/cycle, 666 MHz (Tortorella et al., DATE
    2022); setup cycles have no public source. Example: 8 tokens, 384 x 384,
    r = 8, 32 FMA fully used, no setup, 1 GHz: 49,152 / 32 = 1,536 cycles =
    1,536 ns.
    """
    c = cluster or ClusterConfig()
    cycles = lora_macs(tokens, in_features, out_features, rank) / c.macs_per_cycle
    return (cycles + c.setup_cycles_per_block) / c.cluster_frequency_hz * 1e9


def analog_block_ns(tokens: int, integration_time_ns: float) -> float:
    """Time of the analog MVMs for one block: ``N * t_int`` (one MVM per token
    per integration time, all tiles of a layer in parallel; t_int of 128, 256
    or 512 ns in Li et al., arXiv 2411.17367). Example: 8 tokens at 128 ns:
    1,024 ns."""
    check_int("tokens", tokens, 1, "--tokens")
    t = check_number(
        "integration_time_ns", integration_time_ns, lo_open=True, flag="--integration-time-ns"
    )
    return tokens * t


def local_memory_bytes(
    tokens: int,
    in_features: int,
    out_features: int,
    rank: int,
    *,
    bytes_per_value: int = 2,
    double_buffer: bool = True,
) -> int:
    """Local memory one block needs:
    ``b * (r (in + out) + k N (in + out) + N r)``, k = 2 when inputs and
    outputs are double-buffered, else 1 (A and B; inputs and outputs; the
    rank-r intermediates), b bytes per value (FP16: 2).

    Example: 8 tokens, 384 x 384, r = 8, double-buffered, FP16:
    2 * (6,144 + 2 * 6,144 + 64) = 36,992 bytes.
    """
    check_int("tokens", tokens, 1, "--tokens")
    _layer(in_features, out_features, rank)
    check_int("bytes_per_value", bytes_per_value, 1, "--bytes-per-value")
    weights = rank * (in_features + out_features)
    vectors = tokens * (in_features + out_features) * (2 if double_buffer else 1)
    intermediates = tokens * rank
    return bytes_per_value * (weights + vectors + intermediates)


def block_sizes(seq_len: int, tokens: int) -> tuple[int, ...]:
    """A sequence cut into blocks of ``tokens``; the last may be shorter.
    Example: 320 tokens in blocks of 128: (128, 128, 64)."""
    check_int("seq_len", seq_len, 1, "--seq-len")
    check_int("tokens", tokens, 1, "--tokens")
    full, rest = divmod(seq_len, tokens)
    return (tokens,) * full + ((rest,) if rest else ())


def pipelined_total_ns(stages: Iterable[tuple[float, float]]) -> float:
    """End time of a two-stage pipeline, (analog, digital) time per block in order.

    Block k's digital stage starts once its analog stage is done and the
    cluster has finished block k - 1: ``a_end[k] = a_end[k-1] + a_k``,
    ``d_end[k] = max(d_end[k-1], a_end[k]) + d_k``; the total is the last
    ``d_end``. With n equal blocks this is ``min(a, d) + n * max(a, d)``
    (fill + n_blocks * the slower stage). Example: three blocks of (2, 3):
    2 + 3 * 3 = 11.
    """
    a_end = d_end = 0.0
    count = 0
    for a, d in stages:
        check_number("analog stage time", a)
        check_number("digital stage time", d)
        a_end += a
        d_end = max(d_end, a_end) + d
        count += 1
    if count == 0:
        raise CostError("the pipeline has no blocks: give --seq-len >= 1")
    return d_end


@dataclass(frozen=True)
class LatencyPoint:
    """One layer at one integration time and block size."""

    in_features: int
    out_features: int
    rank: int
    integration_time_ns: float
    tokens: int
    seq_len: int
    analog_block_ns: float
    digital_block_ns: float
    memory_bytes: int
    memory_limit_bytes: int
    total_ns: float
    analog_only_ns: float

    @property
    def ratio(self) -> float:
        """Digital over analog time of one block (> 1: the cluster is the bottleneck)."""
        return self.digital_block_ns / self.analog_block_ns

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.memory_limit_bytes

    @property
    def overhead(self) -> float:
        """Pipelined total over analog alone, minus 1 (0.05: 5 % slower)."""
        return self.total_ns / self.analog_only_ns - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "rank": self.rank,
            "integration_time_ns": self.integration_time_ns,
            "tokens": self.tokens,
            "seq_len": self.seq_len,
            "analog_block_ns": self.analog_block_ns,
            "digital_block_ns": self.digital_block_ns,
            "ratio": self.ratio,
            "memory_bytes": self.memory_bytes,
            "memory_limit_bytes": self.memory_limit_bytes,
            "fits": self.fits,
            "total_ns": self.total_ns,
            "analog_only_ns": self.analog_only_ns,
            "overhead": self.overhead,
        }


def layer_latency(
    in_features: int,
    out_features: int,
    rank: int,
    *,
    tokens: int,
    integration_time_ns: float,
    seq_len: int = SEQ_LEN,
    cluster: ClusterConfig | None = None,
) -> LatencyPoint:
    """One layer, one block size, one integration time: block times, memory,
    and the pipelined total and overhead over ``seq_len`` tokens (formulas in
    the module docstring and the functions it names)."""
    c = cluster or ClusterConfig()
    blocks = block_sizes(seq_len, tokens)
    stages = [
        (
            analog_block_ns(n, integration_time_ns),
            digital_block_ns(n, in_features, out_features, rank, c),
        )
        for n in blocks
    ]
    return LatencyPoint(
        in_features=in_features,
        out_features=out_features,
        rank=rank,
        integration_time_ns=float(integration_time_ns),
        tokens=tokens,
        seq_len=seq_len,
        analog_block_ns=analog_block_ns(tokens, integration_time_ns),
        digital_block_ns=digital_block_ns(tokens, in_features, out_features, rank, c),
        memory_bytes=local_memory_bytes(
            tokens,
            in_features,
            out_features,
            rank,
            bytes_per_value=c.bytes_per_value,
            double_buffer=c.double_buffer,
        ),
        memory_limit_bytes=c.local_memory_bytes,
        total_ns=pipelined_total_ns(stages),
        analog_only_ns=seq_len * float(integration_time_ns),
    )


def latency_sweep(
    in_features: int,
    out_features: int,
    rank: int,
    *,
    integration_times_ns: Sequence[float] = INTEGRATION_TIMES_NS,
    token_counts: Sequence[int] = TOKEN_COUNTS,
    seq_len: int = SEQ_LEN,
    cluster: ClusterConfig | None = None,
) -> list[LatencyPoint]:
    """:func:`layer_latency` for every integration time and block size."""
    if not integration_times_ns:
        raise CostError("no integration time given: pass --integration-time-ns 128 256 512")
    if not token_counts:
        raise CostError("no block size given: pass --tokens 8 16 32 64 128")
    return [
        layer_latency(
            in_features,
            out_features,
            rank,
            tokens=n,
            integration_time_ns=t,
            seq_len=seq_len,
            cluster=cluster,
        )
        for t in integration_times_ns
        for n in token_counts
    ]


def best_point(points: Iterable[LatencyPoint]) -> LatencyPoint | None:
    """The block size with the shortest pipelined total among those whose
    local memory fits (the smaller block on a tie), or None when none fits."""
    fitting = [p for p in points if p.fits]
    if not fitting:
        return None
    return min(fitting, key=lambda p: (p.total_ns, p.tokens))
