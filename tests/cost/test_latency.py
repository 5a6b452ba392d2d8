"""Latency of the LoRA branch beside the analog MVM: hand-computed values."""

from __future__ import annotations

import pytest

from analora.cost import (
    ClusterConfig,
    CostError,
    analog_block_ns,
    best_point,
    digital_block_ns,
    latency_sweep,
    layer_latency,
    local_memory_bytes,
    lora_macs,
    pipelined_total_ns,
)
from analora.cost.latency import block_sizes

# 32 FMA fully used at 1 GHz, no setup: one cycle is 1 ns, 32 MACs per ns.
SIMPLE = ClusterConfig(cluster_frequency_hz=1e9, utilisation=1.0, setup_cycles_per_block=0.0)


def test_macs_and_block_times() -> None:
    assert lora_macs(8, 384, 384, 8) == 49_152  # 8 tokens * 8 * (384 + 384)
    assert digital_block_ns(8, 384, 384, 8, SIMPLE) == pytest.approx(1_536.0)  # 49,152 / 32
    # half the FMA busy at 2 GHz with 64 setup cycles: (49,152 / 16 + 64) / 2 GHz = 1,568 ns
    slow = ClusterConfig(cluster_frequency_hz=2e9, utilisation=0.5, setup_cycles_per_block=64.0)
    assert digital_block_ns(8, 384, 384, 8, slow) == pytest.approx(1_568.0)
    # defaults: (49,152 / (32 * 0.988) + 100) / 666 MHz = 1,654.66 cycles = 2,484.5 ns
    assert digital_block_ns(8, 384, 384, 8) == pytest.approx((49_152 / 31.616 + 100) / 666e6 * 1e9)
    assert analog_block_ns(8, 128.0) == 1_024.0  # 8 MVMs of 128 ns


def test_local_memory() -> None:
    # 2 B * (A, B: 8 * 768 + inputs, outputs twice: 2 * 8 * 768 + 8 * 8 intermediates)
    assert local_memory_bytes(8, 384, 384, 8) == 2 * (6_144 + 12_288 + 64) == 36_992
    assert local_memory_bytes(8, 384, 384, 8, double_buffer=False) == 24_704  # 2 * 12,352
    # 384 x 1536 at 16 tokens: 2 * (15,360 + 2 * 16 * 1,920 + 128) = 153,856 > 128 KiB
    assert local_memory_bytes(16, 384, 1536, 8) == 153_856
    assert local_memory_bytes(8, 384, 1536, 8) == 92_288  # fits in 131,072


def test_blocks_and_pipeline() -> None:
    assert block_sizes(320, 128) == (128, 128, 64)
    assert block_sizes(320, 8) == (8,) * 40
    assert block_sizes(5, 8) == (5,)
    # equal blocks: min(a, d) + n * max(a, d)
    assert pipelined_total_ns([(2.0, 3.0)] * 3) == 11.0  # 2 + 3 * 3
    assert pipelined_total_ns([(4.0, 1.0)] * 3) == 13.0  # 1 + 3 * 4
    # a short last block: analog ends at 2, 4, 5; digital at 5, 8, then max(8, 5) + 1 = 9
    assert pipelined_total_ns([(2.0, 3.0), (2.0, 3.0), (1.0, 1.0)]) == 9.0


def test_layer_latency_digital_bound() -> None:
    p = layer_latency(384, 384, 8, tokens=8, integration_time_ns=128.0, cluster=SIMPLE)
    # 40 blocks: analog 1,024 ns, digital 1,536 ns; total 1,024 + 40 * 1,536 = 62,464 ns
    assert (p.analog_block_ns, p.digital_block_ns) == (1_024.0, 1_536.0)
    assert p.ratio == pytest.approx(1.5)
    assert p.total_ns == pytest.approx(62_464.0)
    assert p.analog_only_ns == 40_960.0  # 320 * 128
    assert p.overhead == pytest.approx(62_464 / 40_960 - 1)  # 0.525
    assert p.fits and p.memory_bytes == 36_992


def test_layer_latency_analog_bound() -> None:
    p = layer_latency(384, 384, 8, tokens=8, integration_time_ns=512.0, cluster=SIMPLE)
    # 40 * 4,096 + 1,536 = 165,376 against 163,840: 0.9375 % slower
    assert p.total_ns == pytest.approx(165_376.0)
    assert p.overhead == pytest.approx(0.009375)


def test_layer_latency_short_last_block() -> None:
    p = layer_latency(384, 384, 8, tokens=128, integration_time_ns=128.0, cluster=SIMPLE)
    # blocks 128, 128, 64: analog 16,384, 16,384, 8,192; digital 24,576, 24,576, 12,288
    # analog ends 16,384, 32,768, 40,960; digital ends 40,960, 65,536, 77,824
    assert p.total_ns == pytest.approx(77_824.0)
    assert p.overhead == pytest.approx(0.9)
    assert not p.fits  # 2 * (6,144 + 2 * 98,304 + 1,024) = 407,552 bytes


def test_best_block_size_respects_memory() -> None:
    setup = ClusterConfig(cluster_frequency_hz=1e9, utilisation=1.0, setup_cycles_per_block=2048.0)
    points = latency_sweep(384, 384, 8, integration_times_ns=(128.0,), cluster=setup)
    totals = {p.tokens: p.total_ns for p in points}
    # total = 128 N + (320 / N) * (192 N + 2,048) for whole blocks
    assert totals[8] == pytest.approx(144_384.0)
    assert totals[32] == pytest.approx(86_016.0)  # 4,096 + 10 * 8,192
    assert totals[64] == pytest.approx(79_872.0)  # 8,192 + 5 * 14,336
    # 64 and 128 tokens need 209,920 and 407,552 bytes: best that fits is 32
    best = best_point(points)
    assert best is not None and best.tokens == 32
    roomy = ClusterConfig(
        cluster_frequency_hz=1e9,
        utilisation=1.0,
        setup_cycles_per_block=2048.0,
        local_memory_bytes=1 << 20,
    )
    best = best_point(latency_sweep(384, 384, 8, integration_times_ns=(128.0,), cluster=roomy))
    assert best is not None and best.tokens == 64  # 128 tokens: 83,968 ns
    tight = ClusterConfig(local_memory_bytes=1000)
    assert best_point(latency_sweep(384, 384, 8, cluster=tight)) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lora_macs(0, 384, 384, 8), "tokens=0 is invalid: give an integer >= 1 (--tokens)"),
        (lambda: lora_macs(8, 384, 384, -1), "rank=-1 is invalid: give an integer >= 1 (--rank)"),
        (
            lambda: analog_block_ns(8, 0.0),
            "integration_time_ns=0.0 is invalid: give a number > 0 (--integration-time-ns)",
        ),
        (lambda: block_sizes(0, 8), "seq_len=0 is invalid: give an integer >= 1 (--seq-len)"),
        (lambda: pipelined_total_ns([]), "the pipeline has no blocks"),
        (lambda: latency_sweep(384, 384, 8, token_counts=()), "no block size given"),
        (
            lambda: ClusterConfig(utilisation=1.5),
            "utilisation=1.5 is invalid: give a number > 0 and <= 1 (--utilisation)",
        ),
        (lambda: ClusterConfig(utilisation=0.0), "utilisation=0.0 is invalid"),
        (lambda: ClusterConfig(fma_units=0), "fma_units=0 is invalid"),
        (lambda: ClusterConfig(cluster_frequency_hz=0.0), "(--cluster-frequency-hz)"),
        (lambda: ClusterConfig(double_buffer="yes"), "double_buffer='yes' is invalid"),
    ],
)
def test_refusals(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CostError) as info:
        call()
    assert message in str(info.value)
