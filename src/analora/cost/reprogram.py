"""Switching tasks: reprogramming the analog weights against swapping a digital adapter.

Reprogramming writes every PCM device of every tile by iterative
program-and-verify: a programming pulse, then a verify read, repeated until
the conductance is within tolerance. Tiles take their inputs on rows (word
lines) and give their outputs on columns (bit lines), so one row of a tile
holds one input's weights for up to 512 outputs; the row-wise scheme of
Narayanan et al. (IEEE Trans. Electron Devices 68(12), 6629, 2021) tunes up
to 512 weights of one row concurrently. Both devices of a differential pair
(Joshi et al., Nat. Commun. 11, 2473, 2020) are taken to be pulsed in the
same iteration.

Swapping an adapter moves its FP16 bytes (LoRA and head) from memory to the
digital cores at a memory bandwidth, at an energy per byte (DRAM access:
Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC
2014).

Several programming defaults have no public source for the paper's chip;
each field says so and stays a parameter (``analora cost --pulse-energy-pj``
...). See docs/cost.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analora.cost.accounting import TILE_SIZE, LayerShape, ModelAccount
from analora.cost.checks import check_fields, check_int, check_number, describe, param

NS = 1e-9
PJ = 1e-12


@dataclass(frozen=True)
class ProgrammingConfig:
    """Iterative program-and-verify of the PCM devices of every tile."""

    devices_per_weight: int = param(
        2,
        "int",
        "PCM devices per weight",
        "Joshi et al., Nat. Commun. 11, 2473 (2020): each weight on two PCM devices in a "
        "differential configuration (the paper's device model); Narayanan et al., IEEE TED "
        "2021 use 4",
        min=1,
    )
    rows_in_parallel: int = param(
        1,
        "int",
        "tile rows programmed at once, chip-wide",
        "Narayanan et al., IEEE TED 68(12) 6629 (2021): row-wise closed-loop tuning of up to "
        "512 weights (one row) concurrently; one row chip-wide at a time is an assumption",
        min=1,
    )
    iterations: int = param(
        10,
        "int",
        "program-and-verify iterations per row",
        "no public source confirmed for the paper's chip; a parameter",
        min=1,
    )
    pulse_time_ns: float = param(
        1000.0,
        "float",
        "duration of one programming pulse (ns)",
        "no public source for one value; chosen inside the 13.6 ns - 4.4 us SET pulse "
        "sequences of Ambrogio et al., Nature 558, 60 (2018), Extended Data Fig. 7",
        min=0.0,
    )
    verify_time_ns: float = param(
        250.0,
        "float",
        "duration of one verify read (ns)",
        "taken as the read duration t_read = 250 ns of the PCM read-noise model "
        "(Nandakumar et al. 2019; aihwkit PCMLikeNoiseModel)",
        min=0.0,
    )
    pulse_energy_pj: float = param(
        10.0,
        "float",
        "energy of one programming pulse on one device (pJ)",
        "no public source; a parameter (order of a 100 uA, 1 V, 100 ns pulse)",
        min=0.0,
    )
    verify_energy_pj: float = param(
        1.0,
        "float",
        "energy of one verify read of one device, sensing included (pJ)",
        "no public source; a parameter",
        min=0.0,
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def describe(self) -> list[dict[str, Any]]:
        return describe(self)


@dataclass(frozen=True)
class SwapConfig:
    """Moving an adapter's bytes from memory into the digital cores."""

    bandwidth_bytes_per_s: float = param(
        25.6e9,
        "float",
        "memory bandwidth the adapter is read at (bytes/s)",
        "one 64-bit DDR4-3200 channel at its peak, 3200 MT/s x 8 B (JEDEC speed grade); "
        "where adapters are kept is an assumption, a parameter",
        min=0.0,
        open=True,
    )
    energy_per_byte_pj: float = param(
        162.5,
        "float",
        "energy to read one byte from memory (pJ)",
        "Horowitz, ISSCC 2014: DRAM 1.3-2.6 nJ per 64-bit access (45 nm), i.e. "
        "162.5-325 pJ per byte; the low end",
        min=0.0,
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def describe(self) -> list[dict[str, Any]]:
        return describe(self)


def rows_to_program(layers: Iterable[LayerShape], *, max_outputs: int = TILE_SIZE) -> int:
    """Tile rows holding a model's weights: ``sum(in * ceil(out / max_outputs))``.

    Each input of a layer is one row on every tile of its output chunks
    (inputs on word lines, outputs on bit lines, the usual crossbar MVM
    layout; a row-wise scheme programs one such row at a time, Narayanan et
    al., IEEE TED 2021). Example: 384 x 1536 on 512-wide
    tiles is 384 * 3 = 1,152 rows.
    """
    check_int("max_outputs", max_outputs, 1, "--set tile.max_outputs=...")
    return sum(s.in_features * math.ceil(s.out_features / max_outputs) for s in layers)


def reprogram_time_s(
    rows: int,
    *,
    rows_in_parallel: int,
    iterations: int,
    pulse_time_ns: float,
    verify_time_ns: float,
) -> float:
    """Time to reprogram ``rows`` tile rows:
    ``ceil(rows / rows_in_parallel) * iterations * (pulse + verify)``.

    Iterative program-and-verify (Narayanan et al., IEEE TED 2021; Le Gallo et
    al., Nat. Electron. 2023): every iteration pulses the devices of the rows
    in flight and reads them back. A last, partial group of rows takes a full
    step. Example: 1,000 rows, 1 at a time, 10 iterations of 1,000 + 250 ns:
    1,000 * 10 * 1,250 ns = 12.5 ms.
    """
    check_int("rows", rows, 0)
    check_int("rows_in_parallel", rows_in_parallel, 1, "--rows-in-parallel")
    check_int("iterations", iterations, 1, "--iterations")
    check_number("pulse_time_ns", pulse_time_ns, flag="--pulse-time-ns")
    check_number("verify_time_ns", verify_time_ns, flag="--verify-time-ns")
    steps = math.ceil(rows / rows_in_parallel)
    return steps * iterations * (pulse_time_ns + verify_time_ns) * NS


def reprogram_energy_j(
    devices: int, *, iterations: int, pulse_energy_pj: float, verify_energy_pj: float
) -> float:
    """Energy to reprogram ``devices`` PCM devices:
    ``devices * iterations * (pulse + verify energy)``.

    Every device gets one pulse and one verify read per iteration (the
    program-and-verify loop of the sources above; the per-operation energies
    have no public source here and are parameters). Example: 1,000 devices,
    10 iterations, 10 + 1 pJ: 110,000 pJ = 110 nJ.
    """
    check_int("devices", devices, 0)
    check_int("iterations", iterations, 1, "--iterations")
    check_number("pulse_energy_pj", pulse_energy_pj, flag="--pulse-energy-pj")
    check_number("verify_energy_pj", verify_energy_pj, flag="--verify-energy-pj")
    return devices * iterations * (pulse_energy_pj + verify_energy_pj) * PJ


def swap_time_s(n_bytes: int, *, bandwidth_bytes_per_s: float) -> float:
    """Time to move ``n_bytes`` at a memory bandwidth: ``bytes / bandwidth``.
    Example: 25.6 MB at 25.6 GB/s is 1 ms."""
    check_int("n_bytes", n_bytes, 0)
    bw = check_number(
        "bandwidth_bytes_per_s", bandwidth_bytes_per_s, lo_open=True, flag="--bandwidth-bytes-per-s"
    )
    return n_bytes / bw


def swap_energy_j(n_bytes: int, *, energy_per_byte_pj: float) -> float:
    """Energy to move ``n_bytes``: ``bytes * energy per byte`` (DRAM: Horowitz,
    ISSCC 2014). Example: 1,000 bytes at 162.5 pJ is 162.5 nJ."""
    check_int("n_bytes", n_bytes, 0)
    check_number("energy_per_byte_pj", energy_per_byte_pj, flag="--energy-per-byte-pj")
    return n_bytes * energy_per_byte_pj * PJ


@dataclass(frozen=True)
class SwitchCost:
    """One task switch on one chip: reprogram the analog weights, or swap the adapter."""

    rows: int
    devices: int
    adapter_bytes: int
    reprogram_time_s: float
    reprogram_energy_j: float
    swap_time_s: float
    swap_energy_j: float

    @property
    def time_ratio(self) -> float:
        """Reprogramming time over swap time (inf when the swap is free)."""
        return self.reprogram_time_s / self.swap_time_s if self.swap_time_s else math.inf

    @property
    def energy_ratio(self) -> float:
        return self.reprogram_energy_j / self.swap_energy_j if self.swap_energy_j else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "devices": self.devices,
            "adapter_bytes": self.adapter_bytes,
            "reprogram_time_s": self.reprogram_time_s,
            "reprogram_energy_j": self.reprogram_energy_j,
            "swap_time_s": self.swap_time_s,
            "swap_energy_j": self.swap_energy_j,
            "time_ratio": _finite(self.time_ratio),
            "energy_ratio": _finite(self.energy_ratio),
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def switch_cost(
    account: ModelAccount,
    programming: ProgrammingConfig | None = None,
    swap: SwapConfig | None = None,
    *,
    max_outputs: int = TILE_SIZE,
) -> SwitchCost:
    """Reprogramming all of ``account``'s analog weights against swapping one
    task adapter (LoRA + head, ``account.adapter_bytes``), with the formulas
    of :func:`reprogram_time_s`, :func:`reprogram_energy_j`,
    :func:`swap_time_s` and :func:`swap_energy_j`."""
    programming = programming or ProgrammingConfig()
    swap = swap or SwapConfig()
    rows = rows_to_program(account.layers, max_outputs=max_outputs)
    devices = programming.devices_per_weight * account.analog_params
    n_bytes = account.adapter_bytes
    return SwitchCost(
        rows=rows,
        devices=devices,
        adapter_bytes=n_bytes,
        reprogram_time_s=reprogram_time_s(
            rows,
            rows_in_parallel=programming.rows_in_parallel,
            iterations=programming.iterations,
            pulse_time_ns=programming.pulse_time_ns,
            verify_time_ns=programming.verify_time_ns,
        ),
        reprogram_energy_j=reprogram_energy_j(
            devices,
            iterations=programming.iterations,
            pulse_energy_pj=programming.pulse_energy_pj,
            verify_energy_pj=programming.verify_energy_pj,
        ),
        swap_time_s=swap_time_s(n_bytes, bandwidth_bytes_per_s=swap.bandwidth_bytes_per_s),
        swap_energy_j=swap_energy_j(n_bytes, energy_per_byte_pj=swap.energy_per_byte_pj),
    )
