"""``analora demo``: the whole method end to end on one machine.

1. The packaged MiniLM; SST-2 from ``--data-dir`` / ``ANALORA_DATA_DIR`` or
   the Hub.
2. Program one chip under ``paper-pcm``.
3. Train an ``ahwa-lora`` adapter against it on a training subset.
4. Fine-tune ``digital`` on the same subset; deploy it as ``direct``.
5. Sweep ``ahwa-lora`` and ``direct`` over the same chips and ages (the
   ``digital`` model is the reference).
6. Write the report (Markdown, PNG, HTML), with two paired comparisons of
   ``ahwa-lora`` and ``direct`` over the same chips, each with whether it
   stands out of the chip-to-chip noise: their difference at the oldest age,
   and what each loses from programming to the oldest age on the same chip.

Every step writes into its own directory under ``--out`` and is skipped when
it is complete, resumed when it was cut off, and refused when it holds other
settings: the demo is safe to rerun.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analora.files import atomic_write_json
from analora.studies.common import data_dir as _data_dir
from analora.studies.common import program_chip, say, sweep_step, train_step


@dataclass(frozen=True)
class DemoSizes:
    """Sized for 15 minutes on 2 CPU cores: 2,000 training sentences, the
    full dev set (872), 5 chips at 4 ages (``--fast``: a smoke test).
    Learning rates come from the task's recipe. Paired differences between
    methods are reported with their 95 % intervals, and said to be inside
    the noise when they are; RESULTS.md holds the full study."""

    train_examples: int = 2000
    eval_examples: int | None = None
    max_length: int = 64
    lora_epochs: int = 2
    digital_epochs: int = 2
    chips: int = 5
    batch_size: int = 32
    times: tuple[str, ...] = ("0", "1d", "1y", "10y")


FAST = DemoSizes(
    train_examples=48,
    eval_examples=32,
    max_length=24,
    lora_epochs=1,
    digital_epochs=1,
    chips=3,
    times=("0", "10y"),
)


def run_demo(out_dir: str | Path, data_dir: str | None = None, fast: bool = False) -> Path:
    """Program MiniLM, train AHWA-LoRA and the baselines on SST-2, sweep,
    report; returns the report directory."""
    from analora.tasks import load_task
    from analora.workflows import build_report

    sizes = FAST if fast else DemoSizes()
    found = _data_dir(data_dir)
    load_task("sst2", splits=["validation"], data_dir=found)  # fail now, not after training
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say(
        f"analora demo: MiniLM on SST-2, {sizes.train_examples} training and "
        f"{sizes.eval_examples or 'all'} dev sentences of at most {sizes.max_length} tokens; "
        f"{sizes.chips} chips x {len(sizes.times)} ages; output in {out}"
    )
    chip_dir = out / "chip"
    program_chip(chip_dir)
    for method, spec in _specs(sizes, out, chip_dir):
        say(
            f"[{method}] training"
            if method != "direct"
            else "[direct] programming the digital model"
        )
        train_step(method, spec, out / method, found)
    sweeps = out / "sweeps"
    results: dict[str, Any] = {}
    for method in ("digital", "direct", "ahwa-lora"):
        say(
            f"[sweep] {method}: {sizes.chips} chips x {len(sizes.times)} ages"
            if method != "digital"
            else "[sweep] digital reference"
        )
        results[method] = sweep_step(
            out / method, sweeps / method, chips=sizes.chips, times=sizes.times, data_dir_=found
        )
    say("[report]")
    paths = [str(sweeps / m) for m in ("digital", "direct", "ahwa-lora")]
    build_report(paths, out / "report", html_page=True)
    verdict = verdict_line(results["ahwa-lora"], results["direct"])
    drift = drift_line(results["ahwa-lora"], results["direct"])
    with (out / "report" / "report.md").open("a", encoding="utf-8") as fh:
        fh.write(f"\n{verdict}\n\n{drift}\n")
    say(verdict)
    say(drift)
    record = {"sizes": asdict(sizes), "data_dir": found, "verdict": verdict, "drift": drift}
    atomic_write_json(out / "demo.json", record)
    say(f"demo finished in {time.perf_counter() - started:.0f} s; everything is under {out}")
    return out / "report"


def _trust(lo: float, hi: float) -> str:
    return (
        "the interval excludes 0: a difference this demo can show"
        if lo > 0 or hi < 0
        else "the interval includes 0: at this size the demo cannot tell the two apart"
    )


def drift_line(ahwa_lora: dict[str, Any], direct: dict[str, Any]) -> str:
    """What each method loses from 0 s to the oldest age on the same chip,
    and the paired difference of the two losses with its 95 % interval
    (positive: ``ahwa-lora`` loses less)."""
    from analora.studies.analysis import changes, mean_ci
    from analora.sweep.results import time_label

    oldest = max(ahwa_lora["times_s"])
    age = time_label(oldest)
    a, d = changes(ahwa_lora, oldest), changes(direct, oldest)
    chips = sorted(set(a) & set(d))
    if oldest <= 0 or not chips:
        return "No chip was read at 0 s and at a later age: no change over time to compare."
    mean, half = mean_ci([a[c] - d[c] for c in chips])
    lost = (
        f"From 0 s to {age} on the same chip, ahwa-lora changes by "
        f"{mean_ci([a[c] for c in chips])[0]:+.2f} points and direct by "
        f"{mean_ci([d[c] for c in chips])[0]:+.2f}"
    )
    if half is None:
        return f"{lost}; the difference is {mean:+.2f} points (one chip: no interval)."
    lo, hi = mean - half, mean + half
    less = f"{mean:.2f} points less" if mean >= 0 else f"{-mean:.2f} points more"
    return (
        f"{lost}; ahwa-lora loses {less}, paired over {len(chips)} chips (95 % interval of "
        f"the difference {lo:+.2f} to {hi:+.2f}); {_trust(lo, hi)}."
    )


def verdict_line(ahwa_lora: dict[str, Any], direct: dict[str, Any]) -> str:
    """The paired difference ``ahwa-lora - direct`` at the oldest age, with
    its 95 % interval over chips, and whether it stands out of the noise."""
    from analora.studies.analysis import paired
    from analora.sweep.results import time_label

    row = paired(ahwa_lora, direct)[-1]
    age = time_label(row["t_s"])
    if row["half_width"] is None:
        return f"ahwa-lora - direct at {age}: {row['mean']:+.2f} points (one chip: no interval)."
    lo, hi = row["mean"] - row["half_width"], row["mean"] + row["half_width"]
    return (
        f"ahwa-lora - direct at {age}, paired over {row['n']} chips: {row['mean']:+.2f} points "
        f"(95 % interval {lo:+.2f} to {hi:+.2f}); {_trust(lo, hi)}. The full study: RESULTS.md."
    )


def _specs(sizes: DemoSizes, out: Path, chip_dir: Path) -> list[tuple[str, Any]]:
    from analora.workflows import RunSpec

    common: dict[str, Any] = {
        "task": "sst2",
        "max_train_examples": sizes.train_examples,
        "max_eval_examples": sizes.eval_examples,
        "max_length": sizes.max_length,
        "batch_size": sizes.batch_size,
        "seed": 0,
    }
    return [
        (
            "ahwa-lora",
            RunSpec(
                method="ahwa-lora", model="minilm", chip=str(chip_dir),
                epochs=sizes.lora_epochs, **common,
            ),
        ),
        ("digital", RunSpec(method="digital", model="minilm", epochs=sizes.digital_epochs,
                            **common)),
        ("direct", RunSpec(method="direct", model=str(out / "digital"), **common)),
    ]  # fmt: skip
