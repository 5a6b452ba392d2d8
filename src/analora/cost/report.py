"""The cost model's tables, as data: the CLI prints them and writes them as JSON.

Each :class:`Table` holds plain values (ints, floats, strings, None), so the
printed table and the JSON file come from the same rows. No printing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analora.cost.accounting import BankComparison, LayerShape, ModelAccount, tiles_for_layer
from analora.cost.latency import ClusterConfig, LatencyPoint, best_point, latency_sweep
from analora.cost.reprogram import ProgrammingConfig, SwitchCost


@dataclass(frozen=True)
class Table:
    """A titled table of plain values."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "note": self.note,
        }

    def to_text(self) -> str:
        """The table as aligned Markdown, title above and note below."""
        cells = [list(self.columns)] + [[format_cell(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]

        def line(row: Sequence[str]) -> str:
            parts = [
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            ]
            return "| " + " | ".join(parts) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        out = [f"{self.title}:", "", line(cells[0]), rule, *(line(r) for r in cells[1:])]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)


def format_cell(value: Any) -> str:
    """Ints with thousands separators, floats to 4 significant digits (whole
    numbers from 1,000 up), None as blank, bools as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def accounting_table(account: ModelAccount, *, tile_label: str) -> Table:
    """Parameters, tiles and one task adapter's size."""
    rows: list[tuple[Any, ...]] = [
        ("analog layers", len(account.layers)),
        (f"tiles ({tile_label})", account.tiles),
        ("analog parameters", account.analog_params),
        ("digital parameters", account.digital_params),
        ("analog fraction (%)", 100.0 * account.analog_fraction),
        (f"LoRA parameters per task (rank {account.rank})", account.lora_params),
        ("head parameters per task", account.head_params),
        ("adapter parameters per task", account.adapter_params),
        (f"adapter bytes per task ({account.bytes_per_param} B/param)", account.adapter_bytes),
        ("adapter / analog parameters (%)", 100.0 * account.adapter_params / account.analog_params),
    ]
    return Table("accounting", "Parameters and memory", ("quantity", "value"), tuple(rows))


def bank_table(bank: BankComparison, *, bytes_per_param: int) -> Table:
    """One chip with N adapters against N programmed models."""
    n = bank.tasks
    rows = []
    for label, (chip, models) in (
        ("analog parameters programmed", bank.analog_params),
        (f"PCM devices programmed ({bank.devices_per_weight} per weight)", bank.devices),
        ("tiles programmed", bank.tiles),
        ("programming events", bank.programming_events),
        ("digital parameters", bank.digital_params),
        ("parameters stored", bank.stored_params),
        (f"bytes stored ({bytes_per_param} B/param)", bank.stored_bytes),
    ):
        rows.append((label, chip, models, models / chip if chip else None))
    return Table(
        "bank",
        f"One chip with {n} task adapters against {n} separately programmed models",
        ("quantity", f"one chip + {n} adapters", f"{n} programmed models", "models / chip"),
        tuple(rows),
        note=(
            "one chip: base model programmed once, a LoRA adapter and head per task; "
            "N models: each task fully fine-tuned, with its own digital part and head"
        ),
    )


def switch_table(cost: SwitchCost, programming: ProgrammingConfig) -> Table:
    """Reprogramming the analog weights against swapping one adapter."""
    rows = (
        (
            "reprogram the analog weights",
            cost.devices,
            "PCM devices",
            cost.reprogram_time_s * 1e3,
            cost.reprogram_energy_j * 1e6,
        ),
        (
            "swap one adapter (LoRA + head)",
            cost.adapter_bytes,
            "bytes",
            cost.swap_time_s * 1e3,
            cost.swap_energy_j * 1e6,
        ),
        ("reprogram / swap", None, None, _ratio(cost.time_ratio), _ratio(cost.energy_ratio)),
    )
    p = programming
    return Table(
        "switch",
        "Task switch on one chip: reprogram the analog weights or swap the adapter",
        ("operation", "amount", "unit", "time (ms)", "energy (uJ)"),
        rows,
        note=(
            f"{cost.rows:,} tile rows, {p.rows_in_parallel} at a time, {p.iterations} "
            f"program-and-verify iterations of {p.pulse_time_ns:g} + {p.verify_time_ns:g} ns; "
            f"{p.pulse_energy_pj:g} + {p.verify_energy_pj:g} pJ per device and iteration"
        ),
    )


def _ratio(x: float) -> float | None:
    return x if x == x and x != float("inf") else None


@dataclass(frozen=True)
class ShapeLatency:
    """The best block size of one layer shape at one integration time."""

    shape: LayerShape
    count: int
    tiles: int
    integration_time_ns: float
    best: LatencyPoint | None


def latency_by_shape(
    shapes: Sequence[tuple[LayerShape, int]],
    rank: int,
    *,
    integration_times_ns: Sequence[float],
    token_counts: Sequence[int],
    seq_len: int,
    cluster: ClusterConfig,
    max_inputs: int,
    max_outputs: int,
) -> list[ShapeLatency]:
    """For every distinct layer shape and integration time, the best block size."""
    out = []
    for t in integration_times_ns:
        for shape, count in shapes:
            points = latency_sweep(
                shape.in_features,
                shape.out_features,
                rank,
                integration_times_ns=(t,),
                token_counts=token_counts,
                seq_len=seq_len,
                cluster=cluster,
            )
            tiles = tiles_for_layer(
                shape.in_features,
                shape.out_features,
                max_inputs=max_inputs,
                max_outputs=max_outputs,
            )
            out.append(ShapeLatency(shape, count, tiles, float(t), best_point(points)))
    return out


def model_overhead(results: Sequence[ShapeLatency], integration_time_ns: float) -> float | None:
    """Overhead of all analog layers at one integration time: the layer-count
    weighted mean of the per-shape overheads (every layer alone takes
    ``seq_len * t_int``, so the mean is the overhead of their sum); None when
    some shape has no block size that fits."""
    chosen = [r for r in results if r.integration_time_ns == integration_time_ns]
    if not chosen or any(r.best is None for r in chosen):
        return None
    layers = sum(r.count for r in chosen)
    return sum(r.count * r.best.overhead for r in chosen if r.best is not None) / layers


def latency_table(
    results: Sequence[ShapeLatency], *, rank: int, seq_len: int, cluster: ClusterConfig
) -> Table:
    """Per layer shape and integration time: best block, its times, memory, overhead."""
    rows: list[tuple[Any, ...]] = []
    times = sorted({r.integration_time_ns for r in results})
    for t in times:
        for r in (r for r in results if r.integration_time_ns == t):
            b = r.best
            rows.append(
                (
                    r.shape.label,
                    r.count,
                    r.tiles,
                    t,
                    b.tokens if b else None,
                    b.analog_block_ns if b else None,
                    b.digital_block_ns if b else None,
                    b.ratio if b else None,
                    b.memory_bytes / 1024 if b else None,
                    100.0 * b.overhead if b else None,
                )
            )
        mean = model_overhead(results, t)
        count = sum(r.count for r in results if r.integration_time_ns == t)
        rows.append(("all analog layers", count, None, t, None, None, None, None, None, _pct(mean)))
    kib = cluster.local_memory_bytes / 1024
    return Table(
        "latency",
        f"LoRA branch beside the analog MVM (rank {rank}, {seq_len} tokens, pipelined; "
        f"best block size N whose local memory fits {kib:g} KiB)",
        (
            "layer (in x out)",
            "layers",
            "tiles",
            "t_int (ns)",
            "best N",
            "analog/block (ns)",
            "digital/block (ns)",
            "digital/analog",
            "memory (KiB)",
            "overhead (%)",
        ),
        tuple(rows),
        note=(
            f"cluster: {cluster.fma_units} FMA x {cluster.utilisation:g} at "
            f"{cluster.cluster_frequency_hz / 1e6:g} MHz, {cluster.setup_cycles_per_block:g} "
            f"setup cycles per block, {'double' if cluster.double_buffer else 'single'}-buffered "
            "inputs and outputs; overhead = pipelined total / analog alone - 1; a blank best N: "
            "no block size fits the local memory"
        ),
    )


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def sweep_table(points: Sequence[LatencyPoint], *, cluster: ClusterConfig) -> Table:
    """Every block size and integration time of one layer, best marked."""
    first = points[0]
    rows: list[tuple[Any, ...]] = []
    for t in sorted({p.integration_time_ns for p in points}):
        at_t = [p for p in points if p.integration_time_ns == t]
        best = best_point(at_t)
        for p in at_t:
            rows.append(
                (
                    t,
                    p.tokens,
                    p.analog_block_ns,
                    p.digital_block_ns,
                    p.ratio,
                    p.memory_bytes / 1024,
                    p.fits,
                    p.total_ns,
                    100.0 * p.overhead,
                    "<- best" if p is best else "",
                )
            )
    kib = cluster.local_memory_bytes / 1024
    return Table(
        "latency_sweep",
        f"Layer {first.in_features} x {first.out_features}, rank {first.rank}, "
        f"{first.seq_len} tokens: every block size N",
        (
            "t_int (ns)",
            "N",
            "analog/block (ns)",
            "digital/block (ns)",
            "digital/analog",
            "memory (KiB)",
            f"fits {kib:g} KiB",
            "total (ns)",
            "overhead (%)",
            "",
        ),
        tuple(rows),
    )
