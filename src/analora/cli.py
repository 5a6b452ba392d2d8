"""Command-line interface: verbs that only wire arguments to the library.

Errors caused by user input print one line and exit with status 2 (``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from analora.errors import AnaloraError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="analora", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    from analora.commands import register_all

    register_all(sub)
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
