"""``analora cost``: parameters, reprogramming against adapter swaps, LoRA latency.

Every parameter of the cost model has a flag named after it (``--iterations``,
``--cluster-frequency-hz`` ...); its default and source are in ``--help``
and docs/cost.md.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from analora.cost.accounting import (
    FP16_BYTES,
    LayerShape,
    account_model,
    classifier_head_params,
    compare_bank,
    parse_shapes,
    shapes_from_model,
    unique_shapes,
)
from analora.cost.checks import CostError, check_int, flag_of
from analora.cost.latency import (
    INTEGRATION_TIMES_NS,
    SEQ_LEN,
    TOKEN_COUNTS,
    ClusterConfig,
    latency_sweep,
)
from analora.cost.report import (
    Table,
    accounting_table,
    bank_table,
    latency_by_shape,
    latency_table,
    model_overhead,
    sweep_table,
    switch_table,
)
from analora.cost.reprogram import ProgrammingConfig, SwapConfig, switch_cost

FORMAT = "analora-cost/1"


def _config(cls: type, args: argparse.Namespace) -> Any:
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
    return cls(**given)


def _model_shapes(
    args: argparse.Namespace, hw: Any
) -> tuple[str, list[LayerShape], int, int, int | None]:
    """(label, shapes, digital params, hidden size, head params or None) from
    --model or --shapes. With a --model-class other than ``base`` the model's
    own task head is kept digital and counted as the per-task head."""
    if args.model is not None:
        if args.digital_params is not None:
            raise CostError(
                "--digital-params is for --shapes: drop it, a --model's digital parameters "
                "are counted"
            )
        from analora.models import MODEL_CLASSES, head_modules, load_model

        if args.model_class not in MODEL_CLASSES or args.model_class == "causal-lm":
            choices = [c for c in MODEL_CLASSES if c != "causal-lm"]
            raise CostError(
                f"--model-class {args.model_class!r} is unknown: use one of {', '.join(choices)}"
            )
        kwargs = (
            {"num_labels": args.num_labels} if args.model_class == "sequence-classification" else {}
        )
        model = load_model(args.model, args.model_class, **kwargs)
        heads = head_modules(model)
        shapes, digital = shapes_from_model(model, hw, exclude=[*heads, *(f"{h}.*" for h in heads)])
        head = None
        if heads:
            head = sum(p.numel() for h in heads for p in getattr(model, h).parameters())
            digital -= head
        hidden = args.hidden or getattr(getattr(model, "config", None), "hidden_size", None)
        return args.model, shapes, digital, hidden or 0, head
    if args.model_class != "base":
        raise CostError(
            "--model-class is for --model: drop it, or pass --head-params with --shapes"
        )
    shapes = parse_shapes(args.shapes)
    digital = 0 if args.digital_params is None else args.digital_params
    return "--shapes", shapes, digital, args.hidden or shapes[0].in_features, None


def cmd_cost(args: argparse.Namespace) -> int:
    """Cost model: parameters, reprogramming against adapter swaps, LoRA latency."""
    from analora.hardware import load_hardware

    if args.model is None and args.shapes is None and args.layer is None:
        raise CostError("nothing to cost: give --model DIR|minilm, --shapes INxOUT,... or --layer")
    check_int("rank", args.rank, 1, "--rank")
    check_int("tasks", args.tasks, 1, "--tasks")
    check_int("seq_len", args.seq_len, 1, "--seq-len")
    if args.hidden is not None:
        check_int("hidden", args.hidden, 1, "--hidden")
    configs = {
        "programming": _config(ProgrammingConfig, args),
        "swap": _config(SwapConfig, args),
        "cluster": _config(ClusterConfig, args),
    }
    hw = load_hardware(args.hardware, args.set or None)
    tables: list[Table] = []
    values: dict[str, Any] = {}
    inputs: dict[str, Any] = {
        "hardware": hw.name,
        "tile": [hw.tile.max_inputs, hw.tile.max_outputs],
        "tasks": args.tasks,
        "rank": args.rank,
        "seq_len": args.seq_len,
        "integration_times_ns": list(args.integration_time_ns),
        "token_counts": list(args.tokens),
    }
    if args.model is not None or args.shapes is not None:
        _model_section(args, hw, configs, tables, values, inputs)
    if args.layer is not None:
        _layer_section(args, configs["cluster"], tables, values, inputs)
    print("\n\n".join(t.to_text() for t in tables))
    if args.json:
        _write_json(Path(args.json), inputs, configs, tables, values)
        print(f"\njson: {args.json}")
    return 0


def _head_params(args: argparse.Namespace, own_head: int | None, hidden: int) -> int:
    if args.head_params is not None:
        return check_int("head_params", args.head_params, 0, "--head-params")
    if own_head is not None:
        return own_head
    if hidden:
        return classifier_head_params(hidden, args.num_labels)
    raise CostError("cannot tell this model's hidden size: pass --head-params or --hidden")


def _model_section(
    args: argparse.Namespace,
    hw: Any,
    configs: dict[str, Any],
    tables: list[Table],
    values: dict[str, Any],
    inputs: dict[str, Any],
) -> None:
    """Accounting, the bank, reprogramming against a swap and per-shape latency."""
    max_in, max_out = hw.tile.max_inputs, hw.tile.max_outputs
    programming, swap, cluster = configs["programming"], configs["swap"], configs["cluster"]
    label, shapes, digital, hidden, own_head = _model_shapes(args, hw)
    head = _head_params(args, own_head, hidden)
    account = account_model(
        shapes,
        digital_params=digital,
        rank=args.rank,
        head_params=head,
        max_inputs=max_in,
        max_outputs=max_out,
        bytes_per_param=args.bytes_per_param,
    )
    bank = compare_bank(account, args.tasks, devices_per_weight=programming.devices_per_weight)
    switch = switch_cost(account, programming, swap, max_outputs=max_out)
    by_shape = latency_by_shape(
        unique_shapes(shapes),
        args.rank,
        integration_times_ns=args.integration_time_ns,
        token_counts=args.tokens,
        seq_len=args.seq_len,
        cluster=cluster,
        max_inputs=max_in,
        max_outputs=max_out,
    )
    inputs.update(model=label, model_class=args.model_class, head_params=head)
    tables += [
        accounting_table(account, tile_label=f"{max_in} x {max_out}"),
        bank_table(bank, bytes_per_param=args.bytes_per_param),
        switch_table(switch, programming),
        latency_table(by_shape, rank=args.rank, seq_len=args.seq_len, cluster=cluster),
    ]
    values.update(
        account=account.to_dict(),
        bank=bank.to_dict(),
        switch=switch.to_dict(),
        latency=[
            {
                "layer": r.shape.label,
                "layers": r.count,
                "tiles": r.tiles,
                "integration_time_ns": r.integration_time_ns,
                "best": r.best.to_dict() if r.best else None,
            }
            for r in by_shape
        ],
        model_overhead={
            f"{t:g}": model_overhead(by_shape, float(t)) for t in args.integration_time_ns
        },
    )


def _layer_section(
    args: argparse.Namespace,
    cluster: Any,
    tables: list[Table],
    values: dict[str, Any],
    inputs: dict[str, Any],
) -> None:
    """The latency sweep of one ``--layer IN OUT``."""
    layer = LayerShape(args.layer[0], args.layer[1], name="--layer")
    points = latency_sweep(
        layer.in_features,
        layer.out_features,
        args.rank,
        integration_times_ns=args.integration_time_ns,
        token_counts=args.tokens,
        seq_len=args.seq_len,
        cluster=cluster,
    )
    tables.append(sweep_table(points, cluster=cluster))
    values["latency_sweep"] = [p.to_dict() for p in points]
    inputs["layer"] = [layer.in_features, layer.out_features]


def _write_json(
    path: Path,
    inputs: dict[str, Any],
    configs: dict[str, Any],
    tables: list[Table],
    values: dict[str, Any],
) -> None:
    from analora.files import atomic_write_json

    data = {
        "format": FORMAT,
        "inputs": inputs,
        "parameters": {name: config.describe() for name, config in configs.items()},
        "tables": {t.key: t.to_dict() for t in tables},
        "values": values,
    }
    try:
        atomic_write_json(path, data)
    except OSError as exc:
        raise CostError(
            f"cannot write {path} ({exc.strerror or exc}): choose another --json path"
        ) from None


def _add_config_flags(p: argparse.ArgumentParser, cls: type, title: str) -> None:
    group = p.add_argument_group(title)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        # argparse formats help with %: escape the percent signs of the sources.
        text = f"{meta['help']} (default {f.default}; {meta['source']})".replace("%", "%%")
        if meta["kind"] == "bool":
            group.add_argument(
                flag_of(f.name), action=argparse.BooleanOptionalAction, default=None, help=text
            )
        else:
            kind = int if meta["kind"] == "int" else float
            group.add_argument(flag_of(f.name), type=kind, default=None, help=text)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cost",
        help=cmd_cost.__doc__,
        description=(
            "Parameter and memory accounting, one chip with N adapters against N programmed "
            "models, reprogramming against adapter swaps, and the latency of the LoRA branch "
            "beside the analog MVM. Defaults and their sources: docs/cost.md."
        ),
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--model", help="a local model directory or 'minilm'")
    p.add_argument(
        "--model-class",
        default="base",
        help="how --model is loaded: base (default; the head is derived from --num-labels), "
        "sequence-classification or question-answering (the model's own head is counted, "
        "digital, per task)",
    )
    what.add_argument("--shapes", help="analog layer shapes without a model: 384x384,384x1536,...")
    p.add_argument(
        "--layer",
        nargs=2,
        type=int,
        metavar=("IN", "OUT"),
        help="also show every block size of one layer's latency (alone: only that table)",
    )
    p.add_argument("--hardware", default="paper-pcm", help="preset name or YAML/JSON file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hardware field")
    p.add_argument("--tasks", type=int, default=8, help="task adapters on one chip (default 8)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank on every analog layer")
    p.add_argument(
        "--head-params",
        type=int,
        default=None,
        help="task-head parameters per task (default: "
        "a linear classifier, (hidden + 1) * --num-labels)",
    )
    p.add_argument("--num-labels", type=int, default=2, help="labels of the derived head")
    p.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="hidden size for the derived head (default: the model's, or the first shape's IN)",
    )
    p.add_argument(
        "--digital-params",
        type=int,
        default=None,
        help="digital parameters with --shapes (default 0)",
    )
    p.add_argument(
        "--bytes-per-param",
        type=int,
        default=FP16_BYTES,
        help="bytes per stored parameter (default 2: FP16)",
    )
    p.add_argument("--seq-len", type=int, default=SEQ_LEN, help="tokens per sequence")
    p.add_argument(
        "--integration-time-ns",
        type=float,
        nargs="+",
        default=list(INTEGRATION_TIMES_NS),
        help="AIMC integration times per MVM (default 128 256 512)",
    )
    p.add_argument(
        "--tokens",
        type=int,
        nargs="+",
        default=list(TOKEN_COUNTS),
        help="block sizes N, tokens processed together (default 8 16 32 64 128)",
    )
    p.add_argument("--json", default=None, metavar="PATH", help="also write the tables as JSON")
    _add_config_flags(p, ProgrammingConfig, "reprogramming (program-and-verify)")
    _add_config_flags(p, SwapConfig, "adapter swap")
    _add_config_flags(p, ClusterConfig, "digital cluster beside each tile")
    p.set_defaults(func=cmd_cost)
