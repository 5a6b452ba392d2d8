"""Command-line interface: verbs that only wire arguments to the library.

Errors caused by user input print one line and exit with status 2 (``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from analora.errors import AnaloraError


def _hardware(args: argparse.Namespace):
    from analora.hardware import load_hardware

    return load_hardware(args.hardware, args.set or None)


def cmd_chip_program(args: argparse.Namespace) -> int:
    """Program a model onto a chip and save it."""
    from tqdm import tqdm

    from analora.analog import program, save_chip
    from analora.analog.store import is_chip_dir
    from analora.models import load_model

    hw = _hardware(args)
    out = Path(args.out)
    # Refuse before the slow work, not after it.
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        what = "a chip" if is_chip_dir(out) else "files"
        raise AnaloraError(f"{out} already holds {what}: pass --overwrite or choose another --out")
    model = load_model(args.model, args.model_class)
    # disable=None: no bar when stderr is not a terminal (logs, CI).
    bar = tqdm(
        total=None,
        desc="programming",
        unit="layer",
        disable=True if args.quiet else None,
        file=sys.stderr,
    )

    def progress(name: str, done: int, total: int) -> None:
        bar.total = total
        bar.set_postfix_str(name[-40:])
        bar.update(1)

    chip = program(
        model, hw, seed=args.seed, include=args.include, exclude=args.exclude, progress=progress
    )
    bar.close()
    save_chip(chip, out, overwrite=args.overwrite)
    print(chip.report.summary())
    print(f"chip {chip.fingerprint()[:16]} (seed {chip.seed}) saved to {out}")
    return 0


def cmd_chip_info(args: argparse.Namespace) -> int:
    """Show a saved chip: tiles, parameters, fingerprint (verified as 'chip read' does)."""
    from analora.analog.store import read_chip_meta, verify_chip

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
    import torch

    from analora.analog import load_chip
    from analora.analog.store import read_chip_meta
    from analora.errors import ChipError
    from analora.models import load_model

    meta = read_chip_meta(args.chip_dir)
    if args.hardware is not None:
        hw = _hardware(args)
        if hw.fingerprint() != meta.get("hardware_fingerprint"):
            raise ChipError(
                f"the chip in {args.chip_dir} was programmed for hardware "
                f"{meta['hardware']['name']!r}, not {hw.name!r}: drop --hardware or re-program"
            )
    model = load_model(args.model, args.model_class)
    chip = load_chip(args.chip_dir, model)
    print(f"chip {chip.fingerprint()[:16]} on {args.model}: {chip.report.summary()}")
    print(f"{'age_s':>12}  {'rel. weight error':>17}  {'mean GDC factor':>15}")
    for t_s in args.t_s:
        chip.read(t_s, args.read_index)
        num = den = 0.0
        gdc = []
        for _, layer in chip.layers():
            assert layer.chip_weight is not None
            w_t = layer.chip_weight * layer.mapping_scale.unsqueeze(-1)
            if layer.drift_scale is not None:
                w_t = w_t * layer.drift_scale.unsqueeze(-1)
                gdc.append(layer.drift_scale.mean().item())
            w0 = layer.tile_weight * layer.mapping_scale.unsqueeze(-1)
            num += float(torch.sum((w_t - w0) ** 2))
            den += float(torch.sum(w0**2))
        g = f"{sum(gdc) / len(gdc):.4f}" if gdc else "off"
        print(f"{t_s:>12.0f}  {(num / den) ** 0.5:>17.4f}  {g:>15}")
    return 0


def cmd_hardware_list(args: argparse.Namespace) -> int:
    """List the hardware presets."""
    from analora.hardware import load_hardware, preset_names

    for name in preset_names():
        hw = load_hardware(name)
        c = hw.converters
        print(
            f"{name:<16} DAC {c.dac_bits or '-'} / ADC {c.adc_bits or '-'} bits, "
            f"out noise {hw.periphery.output_noise_std}, device {hw.device.model}, "
            f"drift comp. {hw.drift_compensation.method}"
        )
    return 0


def cmd_hardware_show(args: argparse.Namespace) -> int:
    """Print a hardware config (after --set overrides) as YAML."""
    import yaml

    print(yaml.safe_dump(_hardware(args).to_dict(), sort_keys=False), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="analora", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

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

    hw = sub.add_parser("hardware", help="hardware presets").add_subparsers(
        dest="hardware_command", required=True
    )
    p = hw.add_parser("list", help=cmd_hardware_list.__doc__)
    p.set_defaults(func=cmd_hardware_list)
    p = hw.add_parser("show", help=cmd_hardware_show.__doc__)
    p.add_argument("hardware")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_hardware_show)

    from analora.tasks.cli import register as register_tasks

    register_tasks(sub)

    from analora.training.cli import register as register_train

    register_train(sub)

    from analora.sweep.cli import register as register_sweep

    register_sweep(sub)

    from analora.demo import register as register_demo

    register_demo(sub)

    from analora.cost.cli import register as register_cost

    register_cost(sub)

    from analora.bank.cli import register as register_bank

    register_bank(sub)

    from analora.studies.cli import register as register_studies

    register_studies(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        import datasets
        import huggingface_hub

        datasets.disable_progress_bars()
        huggingface_hub.utils.disable_progress_bars()
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
        logging.getLogger("datasets").setLevel(logging.ERROR)
        return int(args.func(args))
    except AnaloraError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
