"""Reprogramming against adapter swaps: hand-computed values and refusals."""

from __future__ import annotations

import dataclasses

import pytest

from analora.cost import (
    CostError,
    LayerShape,
    ProgrammingConfig,
    SwapConfig,
    account_model,
    reprogram_energy_j,
    reprogram_time_s,
    rows_to_program,
    swap_energy_j,
    swap_time_s,
    switch_cost,
)
from analora.cost.latency import ClusterConfig


def test_rows_to_program() -> None:
    assert rows_to_program([LayerShape(384, 384)]) == 384  # 384 rows on 1 tile
    assert rows_to_program([LayerShape(384, 1536)]) == 1_152  # 384 rows on each of 3 tiles
    assert rows_to_program([LayerShape(1536, 384)]) == 1_536  # 3 tiles of 512 rows
    assert rows_to_program([LayerShape(384, 384)], max_outputs=256) == 768  # 384 * 2


def test_reprogram_time_and_energy() -> None:
    # 1,000 rows one at a time, 10 iterations of (1,000 + 250) ns = 12.5 ms
    t = reprogram_time_s(
        1000, rows_in_parallel=1, iterations=10, pulse_time_ns=1000.0, verify_time_ns=250.0
    )
    assert t == pytest.approx(12.5e-3)
    # 3 rows at a time: ceil(1000 / 3) = 334 steps * 10 * 1,250 ns = 4.175 ms
    t3 = reprogram_time_s(
        1000, rows_in_parallel=3, iterations=10, pulse_time_ns=1000.0, verify_time_ns=250.0
    )
    assert t3 == pytest.approx(4.175e-3)
    # 1,000 devices * 10 iterations * (10 + 1) pJ = 110,000 pJ = 110 nJ
    e = reprogram_energy_j(1000, iterations=10, pulse_energy_pj=10.0, verify_energy_pj=1.0)
    assert e == pytest.approx(110e-9)


def test_swap_time_and_energy() -> None:
    assert swap_time_s(25_600_000, bandwidth_bytes_per_s=25.6e9) == pytest.approx(1e-3)
    assert swap_energy_j(1000, energy_per_byte_pj=162.5) == pytest.approx(162.5e-9)


def test_minilm_switch_by_hand() -> None:
    per_layer = [(384, 384)] * 4 + [(384, 1536), (1536, 384)]
    shapes = [LayerShape(i, o) for _ in range(6) for i, o in per_layer] + [LayerShape(384, 384)]
    account = account_model(shapes, digital_params=0, rank=8, head_params=770)
    cost = switch_cost(account)
    # rows: 25 * 384 + 6 * 1,152 + 6 * 1,536 = 9,600 + 6,912 + 9,216 = 25,728
    assert cost.rows == 25_728
    # 25,728 * 10 * 1,250 ns = 0.3216 s
    assert cost.reprogram_time_s == pytest.approx(0.3216)
    # 2 * 10,764,288 devices * 10 * 11 pJ = 2.36814336 mJ
    assert cost.devices == 21_528_576
    assert cost.reprogram_energy_j == pytest.approx(2.36814336e-3)
    # (337,920 + 770) * 2 bytes = 677,380; / 25.6 GB/s = 26.46 us; * 162.5 pJ = 110.07 uJ
    assert cost.adapter_bytes == 677_380
    assert cost.swap_time_s == pytest.approx(677_380 / 25.6e9)
    assert cost.swap_energy_j == pytest.approx(1.1007425e-4)
    assert cost.time_ratio == pytest.approx(0.3216 / (677_380 / 25.6e9))  # about 12,154
    assert cost.energy_ratio == pytest.approx(2.36814336e-3 / 1.1007425e-4)  # about 21.51
    assert cost.to_dict()["time_ratio"] == pytest.approx(cost.time_ratio)


def test_a_free_swap_gives_no_ratio() -> None:
    account = account_model([LayerShape(4, 4)], digital_params=0, rank=1)
    cost = switch_cost(account, swap=SwapConfig(energy_per_byte_pj=0.0))
    assert cost.to_dict()["energy_ratio"] is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SwapConfig(bandwidth_bytes_per_s=0),
            "bandwidth_bytes_per_s=0 is invalid: give a number > 0 (--bandwidth-bytes-per-s)",
        ),
        (lambda: SwapConfig(energy_per_byte_pj=-1.0), "energy_per_byte_pj=-1.0 is invalid"),
        (
            lambda: ProgrammingConfig(iterations=0),
            "iterations=0 is invalid: give an integer >= 1 (--iterations)",
        ),
        (lambda: ProgrammingConfig(iterations=True), "iterations=True is invalid"),
        (lambda: ProgrammingConfig(rows_in_parallel=0), "(--rows-in-parallel)"),
        (lambda: ProgrammingConfig(pulse_time_ns=float("nan")), "pulse_time_ns=nan is invalid"),
        (lambda: ProgrammingConfig(verify_energy_pj="1"), "verify_energy_pj='1' is invalid"),
        (
            lambda: reprogram_time_s(
                10, rows_in_parallel=1, iterations=1, pulse_time_ns=-1.0, verify_time_ns=0.0
            ),
            "pulse_time_ns=-1.0 is invalid: give a number >= 0 (--pulse-time-ns)",
        ),
        (lambda: swap_time_s(10, bandwidth_bytes_per_s=0.0), "give a number > 0"),
        (lambda: swap_time_s(-1, bandwidth_bytes_per_s=1.0), "n_bytes=-1 is invalid"),
    ],
)
def test_refusals(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CostError) as info:
        build()
    assert message in str(info.value)


def test_every_default_names_its_source() -> None:
    unsourced = set()
    for cls in (ProgrammingConfig, SwapConfig, ClusterConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata["help"] and f.metadata["source"], f.name
            if "no public source" in f.metadata["source"]:
                unsourced.add(f.name)
    assert unsourced == {
        "iterations",
        "pulse_time_ns",
        "pulse_energy_pj",
        "verify_energy_pj",
        "setup_cycles_per_block",
    }
