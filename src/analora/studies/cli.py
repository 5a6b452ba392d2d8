"""``analora study``: the studies, one command each."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    from analora.studies.multitask import cmd_multitask

    study = sub.add_parser("study", help="multi-task, re-adaptation and refresh studies")
    verbs = study.add_subparsers(dest="study_command", required=True)
    p = verbs.add_parser("multitask", help=cmd_multitask.__doc__)
    p.add_argument("--data-dir", default=None, help="GLUE folder (else ANALORA_DATA_DIR or Hub)")
    p.add_argument("--out", default="runs/multitask")
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test")
    p.set_defaults(func=cmd_multitask)

    from analora.studies.readapt import cmd_readapt

    p = verbs.add_parser("readapt", help=cmd_readapt.__doc__)
    p.add_argument("--adapter", default=None, help="an ahwa-lora run to start from (else trained)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="the changed constraint (default: converters.dac_bits=6 converters.adc_bits=6)",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/readapt")
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test")
    p.set_defaults(func=cmd_readapt)

    from analora.studies.refresh import cmd_refresh

    p = verbs.add_parser("refresh", help=cmd_refresh.__doc__)
    p.add_argument("--adapter", default=None, help="the single ahwa-lora run (else trained)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/refresh")
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test")
    p.set_defaults(func=cmd_refresh)
