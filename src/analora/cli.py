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
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from analora import progress
from analora.errors import AnaloraError

# Commands defined in other modules: (module with register(sub), help). Only
# the module of the command being run is imported, so that ``--help`` and
# ``--version`` do not wait for torch, transformers and peft.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "chip": ("analora.commands.chip", "program, inspect chips"),
    "hardware": ("analora.commands.hardware", "hardware presets"),
    "tasks": ("analora.tasks.cli", "list tasks; show a task's data"),
    "train": ("analora.commands.train", "train (or deploy) a method and save its artefact"),
    "sweep": ("analora.commands.sweep", "evaluate a deployment on N chips at each drift time"),
    "report": ("analora.commands.sweep", "combine result files into tables, plots and a page"),
    "demo": ("analora.commands.demo", "MiniLM on SST-2, end to end: program, train, sweep, report"),
    "cost": ("analora.cost.cli", "parameters, reprogramming against adapter swaps, latency"),
    "bank": ("analora.commands.bank", "adapter banks: many tasks on one chip"),
    "study": ("analora.commands.study", "multi-task, re-adaptation, refresh, reproduction"),
    "llm": ("analora.llm.cli", "decoder LMs: instruction tuning, zero-shot, noise sweeps, GRPO"),
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
