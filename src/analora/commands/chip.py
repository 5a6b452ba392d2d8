"""``analora chip``: program a model onto a chip, show a saved chip, read it at ages."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_chip_program(args: argparse.Namespace) -> int:
    """Program a model onto a chip and save it."""
    from analora.progress import Progress
    from analora.workflows import program_chip

    bar = Progress("programming", unit="layer")
    if args.quiet:
        bar.close()

    def progress(name: str, done: int, total: int) -> None:
        if not args.quiet:
            bar.set_total(total)
            bar.update(1, note=name[-40:])

    chip = program_chip(
        args.model,
        args.out,
        hardware=args.hardware,
        set_fields=args.set or (),
        seed=args.seed,
        model_class=args.model_class,
        include=args.include,
        exclude=args.exclude,
        overwrite=args.overwrite,
        progress=progress,
    )
    bar.close()
    print(chip.report.summary())
    print(f"chip {chip.fingerprint()[:16]} (seed {chip.seed}) saved to {args.out}")
    return 0


def cmd_chip_info(args: argparse.Namespace) -> int:
    """Show a saved chip: tiles, parameters, fingerprint (verified as 'chip read' does)."""
    from analora.analog.chip_files import read_chip_meta, verify_chip

    meta = read_chip_meta(args.chip_dir)
    verify_chip(args.chip_dir, meta)
    rep = meta.get("report", {})
    if args.json:
        print(
            json.dumps({k: v for k, v in meta.items() if k != "report"} | {"report": rep}, indent=2)
        )
        return 0
    rows = [
        ("model", meta.get("model_name_or_path")),
        ("model fingerprint", meta["model_fingerprint"][:16]),
        ("hardware", f"{meta['hardware']['name']} ({meta.get('hardware_fingerprint')})"),
        ("device model", meta.get("device")),
        ("seed", meta["seed"]),
        ("chip fingerprint", meta["fingerprint"][:16]),
        ("analog layers", len(rep.get("layers", []))),
        ("tiles", rep.get("tiles")),
        ("analog parameters", f"{rep.get('analog_params', 0):,}"),
        ("digital parameters", f"{rep.get('digital_params', 0):,}"),
        ("analog fraction", f"{100 * rep.get('analog_fraction', 0):.1f}%"),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def cmd_chip_read(args: argparse.Namespace) -> int:
    """Load a chip onto its model and read it at the given ages."""
    from analora.workflows.chips import read_chip

    chip, rows = read_chip(
        args.chip_dir, args.model, args.t_s, model_class=args.model_class,
        hardware=args.hardware, set_fields=args.set or (), read_index=args.read_index,
    )  # fmt: skip
    print(f"chip {chip.fingerprint()[:16]} on {args.model}: {chip.report.summary()}")
    print(f"{'age_s':>12}  {'rel. weight error':>17}  {'mean GDC factor':>15}")
    for row in rows:
        gdc = "off" if row["gdc"] is None else f"{row['gdc']:.4f}"
        print(f"{row['t_s']:>12.0f}  {row['weight_error']:>17.4f}  {gdc:>15}")
    return 0


def register(sub: Any) -> None:
    chip = sub.add_parser("chip", help="program, inspect chips").add_subparsers(
        dest="chip_command", required=True
    )
    p = chip.add_parser("program", help=cmd_chip_program.__doc__)
    p.add_argument("--model", required=True, help="local directory, 'minilm', or a Hub id")
    p.add_argument(
        "--model-class",
        default="base",
        help="base (default), sequence-classification, question-answering, causal-lm",
    )
    p.add_argument("--hardware", default="paper-pcm", help="preset name or YAML/JSON file")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a hardware field, e.g. converters.adc_bits=6",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="directory to write the chip to")
    p.add_argument("--include", action="append", metavar="PATTERN", help="map only matching layers")
    p.add_argument(
        "--exclude", action="append", metavar="PATTERN", help="keep matching layers digital"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a chip already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_chip_program)

    p = chip.add_parser("info", help=cmd_chip_info.__doc__)
    p.add_argument("chip_dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_chip_info)

    p = chip.add_parser("read", help=cmd_chip_read.__doc__)
    p.add_argument("chip_dir")
    p.add_argument("--model", required=True, help="the model the chip was programmed from")
    p.add_argument("--model-class", default="base")
    p.add_argument("--hardware", default=None, help="expected hardware (checked against the chip)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument(
        "--t-s",
        type=float,
        nargs="+",
        default=[0.0, 3600.0, 86400.0, 31536000.0, 315360000.0],
        help="ages in seconds",
    )
    p.add_argument("--read-index", type=int, default=0)
    p.set_defaults(func=cmd_chip_read)
