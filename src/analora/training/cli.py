"""``analora train``: the adapter methods on a GLUE classification task."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError

RUN_FILE = "run.json"


def _run_record(args: argparse.Namespace, hardware_fp: str) -> dict[str, Any]:
    keys = (
        "method",
        "model",
        "task",
        "hardware",
        "set",
        "chip",
        "epochs",
        "batch_size",
        "lr",
        "warmup_ratio",
        "rank",
        "lora_alpha",
        "lora_dropout",
        "targets",
        "max_train_examples",
        "max_eval_examples",
        "max_length",
        "seed",
        "chip_seed",
        "chip_age_s",
        "eval_age_s",
    )
    return {
        "format": "analora-run/1",
        **{k: getattr(args, k) for k in keys},
        "hardware_fingerprint": hardware_fp,
    }


def cmd_train(args: argparse.Namespace) -> int:
    """Train an adapter method and save the adapter with its metrics."""
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from analora.adapters import trainable_parameters
    from analora.analog import load_chip
    from analora.hardware import load_hardware
    from analora.models import load_model, resolve
    from analora.tasks import get_task, limit_splits, load_task, tokenize_split
    from analora.training.methods import LoraSettings, classification_tensors, train_adapter
    from analora.training.trainer import TrainConfig

    hw = load_hardware(args.hardware, args.set or None)
    spec = get_task(args.task)
    if spec.head != "sequence-classification":
        raise AnaloraError(
            f"--task {spec.name} ({spec.head}) is not supported by 'train' yet: "
            "use a GLUE classification task"
        )
    out = Path(args.out)
    record = _run_record(args, hw.fingerprint())
    run_file = out / RUN_FILE
    if run_file.is_file():
        if not args.resume:
            raise AnaloraError(
                f"{out} already holds a run: pass --resume to continue it or choose another --out"
            )
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous != record:
            changed = sorted(k for k in record if previous.get(k) != record[k])
            raise AnaloraError(
                f"--resume with other settings than the run in {out} "
                f"({', '.join(changed)}): use the same ones"
            )
    elif args.resume:
        raise AnaloraError(f"{out} holds no run to resume: drop --resume")
    elif out.exists() and any(out.iterdir()):
        raise AnaloraError(f"{out} is not empty: choose another --out")
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_ratio=args.warmup_ratio,
        seed=args.seed,
        primary_metric=spec.primary_metric,
    )
    lora = LoraSettings(
        r=args.rank, alpha=args.lora_alpha, dropout=args.lora_dropout, targets=args.targets
    )
    data = load_task(spec.name, data_dir=args.data_dir)
    eval_split = spec.eval_splits[0]
    splits = limit_splits(
        spec, data.splits, args.max_train_examples, args.max_eval_examples, seed=args.seed
    )
    tokenizer = AutoTokenizer.from_pretrained(resolve(args.model))
    tensors = {
        split: classification_tensors(
            tokenize_split(tokenizer, spec, splits[split], split, args.max_length).dataset
        )
        for split in ("train", eval_split)
    }
    model = load_model(args.model, "sequence-classification", num_labels=spec.num_labels)
    chip = load_chip(args.chip, model) if args.chip else None
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    bar = tqdm(total=None, desc=args.method, unit="step", file=sys.stderr, disable=None)

    def progress(p: dict[str, Any]) -> None:
        bar.total = p["total"]
        bar.n = p["step"]
        bar.set_postfix(loss=f"{p['loss']:.4f}", lr=f"{p['lr']:.2e}")
        bar.refresh()

    result = train_adapter(
        args.method,
        model,
        spec.name,
        tensors["train"],
        tensors[eval_split],
        hw,
        cfg,
        out,
        lora=lora,
        chip_seed=args.chip_seed,
        chip_age_s=args.chip_age_s,
        eval_age_s=args.eval_age_s,
        chip=chip,
        resume=args.resume,
        progress=progress,
    )
    bar.close()
    counts = trainable_parameters(result.model)
    print(
        f"{args.method} on {spec.name}: {result.train.steps} steps; trainable parameters: "
        f"{counts['lora']:,} adapter + {counts['head']:,} head + {counts['other']:,} other"
    )
    print(", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items()) + f" ({eval_split})")
    print(f"adapter saved to {result.adapter_dir}")
    return 0


def register(sub: Any) -> None:
    """Add the ``train`` verb to the CLI."""
    from analora.training.methods import ADAPTER_METHODS

    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=ADAPTER_METHODS)
    p.add_argument("--model", required=True, help="local directory, 'minilm', or a Hub id")
    p.add_argument("--task", required=True, help="a GLUE classification task, e.g. sst2")
    p.add_argument("--hardware", default="paper-pcm")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument(
        "--chip", default=None, help="a chip programmed from --model (else one is programmed)"
    )
    p.add_argument("--chip-seed", type=int, default=0)
    p.add_argument(
        "--chip-age-s", type=float, default=0.0, help="chip-lora: the age to train against"
    )
    p.add_argument("--eval-age-s", type=float, default=0.0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--targets", default="all", help="all, qkv or ffn")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--max-eval-examples", type=int, default=None)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)
