"""``analora demo``: the whole method end to end on one machine.

1. The packaged MiniLM; SST-2 from ``--data-dir`` / ``ANALORA_DATA_DIR`` or
   the Hub.
2. Program one chip under ``paper-pcm``.
3. Train an ``ahwa-lora`` adapter against it on a training subset.
4. Fine-tune ``digital`` on the same subset; deploy it as ``direct``.
5. Sweep ``ahwa-lora`` and ``direct`` over the chips and the 7 default ages
   (the ``digital`` model is the reference).
6. Write the report (Markdown, PNG, HTML) and print the table.

Every step writes into its own directory under ``--out`` and is skipped when
it is complete, resumed when it was cut off, and refused when it holds other
settings: the demo is safe to rerun.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analora.files import atomic_write_json
from analora.studies.common import data_dir as _data_dir
from analora.studies.common import program_chip
from analora.studies.common import run_cli as _run
from analora.studies.common import say as _say
from analora.studies.common import train_step as _train_step


@dataclass(frozen=True)
class DemoSizes:
    """Subsets sized for 15 minutes on 2 CPU cores (``--fast``: a smoke test)."""

    train_examples: int = 1200
    eval_examples: int = 300
    max_length: int = 48
    lora_epochs: int = 3
    digital_epochs: int = 2
    chips: int = 3
    batch_size: int = 32


FAST = DemoSizes(
    train_examples=48, eval_examples=32, max_length=24, lora_epochs=1, digital_epochs=1, chips=3
)


def cmd_demo(args: argparse.Namespace) -> int:
    """Program MiniLM, train AHWA-LoRA and the baselines on SST-2, sweep, report."""
    from analora.tasks import load_task

    sizes = FAST if args.fast else DemoSizes()
    data_dir = _data_dir(args.data_dir)
    load_task("sst2", splits=["validation"], data_dir=data_dir)  # fail now, not after training
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _say(
        f"analora demo: MiniLM on SST-2, {sizes.train_examples} training and "
        f"{sizes.eval_examples} dev sentences of at most {sizes.max_length} tokens; "
        f"{sizes.chips} chips x 7 ages; output in {out}"
    )
    data = ["--data-dir", data_dir] if data_dir else []
    common = [
        "--task",
        "sst2",
        *data,
        "--max-train-examples",
        str(sizes.train_examples),
        "--max-eval-examples",
        str(sizes.eval_examples),
        "--max-length",
        str(sizes.max_length),
        "--batch-size",
        str(sizes.batch_size),
        "--seed",
        "0",
    ]
    chip_dir = out / "chip"
    program_chip(chip_dir)
    steps: list[tuple[str, list[str]]] = [
        (
            "ahwa-lora",
            [
                "--model",
                "minilm",
                "--chip",
                str(chip_dir),
                "--epochs",
                str(sizes.lora_epochs),
                "--lr",
                "2e-3",
            ],
        ),
        ("digital", ["--model", "minilm", "--epochs", str(sizes.digital_epochs)]),
        ("direct", ["--model", str(out / "digital")]),
    ]
    for method, extra in steps:
        _say(
            f"[{method}] training"
            if method != "direct"
            else "[direct] programming the digital model"
        )
        _train_step(
            method,
            ["train", "--method", method, *extra, *common, "--out", str(out / method)],
            out / method,
        )
    sweeps = out / "sweeps"
    for method in ("digital", "direct", "ahwa-lora"):
        target = sweeps / method
        _say(
            f"[sweep] {method}: {sizes.chips} chips x 7 ages"
            if method != "digital"
            else "[sweep] digital reference"
        )
        _run(
            [
                "sweep",
                "--deployment",
                str(out / method),
                "--chips",
                str(sizes.chips),
                *data,
                "--out",
                str(target),
            ]
        )
    _say("[report]")
    _run(
        [
            "report",
            *(str(sweeps / m) for m in ("digital", "direct", "ahwa-lora")),
            "--out",
            str(out / "report"),
            "--html",
        ]
    )
    atomic_write_json(out / "demo.json", {"sizes": asdict(sizes), "data_dir": data_dir})
    _say(f"demo finished in {time.perf_counter() - started:.0f} s; everything is under {out}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.add_argument(
        "--data-dir", default=None, help="GLUE data folder (else ANALORA_DATA_DIR or the Hub)"
    )
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test of every step")
    p.set_defaults(func=cmd_demo)
