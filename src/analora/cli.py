"""Command-line interface: verbs that only wire arguments to the library.

Errors caused by user input, and operating-system errors (unwritable output,
full disk), print one line and exit with status 2; Ctrl-C exits with 130 and a
closed output pipe with 141 (``--debug`` shows the traceback). Only the
module of the command being run is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analora import progress
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


# Commands defined in other modules: (module with register(sub), help). Only
# the module of the command being run is imported, so that ``--help`` and
# ``--version`` do not wait for torch, transformers and peft.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "tasks": ("analora.tasks.cli", "list tasks; show a task's data"),
    "train": ("analora.training.cli", "train (or deploy) a method and save its artefact"),
    "sweep": ("analora.sweep.cli", "evaluate a deployment on N chips at each drift time"),
    "report": ("analora.sweep.cli", "combine result files into tables, plots and a page"),
    "demo": ("analora.demo", "MiniLM on SST-2, end to end: program, train, sweep, report"),
    "cost": ("analora.cost.cli", "parameters, reprogramming against adapter swaps, latency"),
    "bank": ("analora.bank.cli", "adapter banks: many tasks on one chip"),
    "study": ("analora.studies.cli", "multi-task, re-adaptation and refresh studies"),
}

DESCRIPTION = (
    "Deploy pretrained transformers onto simulated analog in-memory-computing chips, "
    "programmed once and adapted with digital LoRA adapters. Exit status: 0 done; 2 refused "
    "(one line on stderr says why and what to do); 130 interrupted; 141 output pipe closed."
)

_TOP_FLAGS = ("--debug", "-q", "--quiet", "-v", "--verbose", "-vv")


def _version() -> str:
    from analora import __version__

    return f"analora {__version__}"


def _command_word(argv: Sequence[str]) -> str | None:
    """The command an argument list names: its first word that is not a
    top-level flag (None for e.g. ``--help`` alone)."""
    for word in argv:
        if word in _TOP_FLAGS or (word.startswith("-v") and set(word[1:]) == {"v"}):
            continue
        return None if word.startswith("-") else word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``argv``, only the module of the command it names
    is imported (the other commands are listed by name and help alone)."""
    parser = argparse.ArgumentParser(prog="analora", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument(
        "-q", "--quiet", dest="global_quiet", action="store_true", help="no progress, no warnings"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="global_verbose",
        action="count",
        default=0,
        help="progress every percent and informational log lines (-vv: debug)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_chip_and_hardware(sub)
    wanted = None if argv is None else _command_word(argv)
    modules = [m for m, _ in LAZY_COMMANDS.values()]
    if argv is not None:
        modules = [LAZY_COMMANDS[wanted][0]] if wanted in LAZY_COMMANDS else []
    for module in dict.fromkeys(modules):
        importlib.import_module(module).register(sub)
    for name, (_, help_text) in LAZY_COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _add_chip_and_hardware(sub: Any) -> None:
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


def _quiet_hf() -> None:
    """Hugging Face libraries: no progress bars, errors only (imported here,
    after the arguments parsed, so that --help stays fast)."""
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


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error, naming the file and the way out."""
    name = exc.filename if exc.filename is not None else None
    where = f" {name}" if name is not None else ""
    reason = exc.strerror or exc.__class__.__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota reached"
        return (
            f"{what} while writing{where}: free space (or choose an --out on another disk) "
            "and run the command again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write or read{where} ({reason}): choose a writable --out, or fix the "
            "permissions"
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return f"{reason}:{where or ' (no file named)'}: check the path you passed"
    return f"{reason}{' (' + str(name) + ')' if name else ''}: check the path and the disk"


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that the flush at
    exit does not fail a second time."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit status: 0 done; 2 refused (bad input, or an
    operating-system error such as an unwritable --out or a full disk), with
    one line on stderr; 130 interrupted (Ctrl-C); 141 output pipe closed
    (e.g. ``| head``), silently. ``--debug`` shows tracebacks instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser(argv).parse_args(argv)
        logging.basicConfig(
            level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.global_verbose, 2)]
            if not args.global_quiet
            else logging.ERROR,
            format="%(levelname)s %(name)s: %(message)s",
        )
        progress.configure(quiet=args.global_quiet, verbose=args.global_verbose)
        _quiet_hf()
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except AnaloraError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted (Ctrl-C); run the command again to redo it", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if debug:
            raise
        _silence_stdout()
        return 141
    except OSError as exc:
        if debug:
            raise
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
