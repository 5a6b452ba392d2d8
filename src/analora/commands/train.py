"""``analora train``: every method on a GLUE task or SQuAD (one process, or
several under ``accelerate launch``; the main process writes the outputs)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or deploy) a method and save its artefact, log and deployment."""
    from analora.commands._progress import step_bar
    from analora.workflows import RunSpec, train_run

    names = RunSpec.__dataclass_fields__
    spec = RunSpec(**{k: v for k, v in vars(args).items() if k in names and v is not None})
    progress, bar = step_bar(args.method)
    run = train_run(
        spec, args.out, data_dir=args.data_dir, resume=args.resume, device=args.device,
        progress=progress,
    )  # fmt: skip
    bar.close()
    if run.is_main:
        _print_run(run)
    return 0


def _print_run(run: Any) -> None:
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)
    what = f"{run.method.name} on {run.spec.task}"
    if run.steps is None:
        print(f"{what}: programmed chip {run.chip_seed}, no training")
    elif "lora" in run.trainable:
        t = run.trainable
        print(
            f"{what}: {run.steps} steps; trainable parameters: {t['lora']:,} adapter + "
            f"{t['head']:,} head + {t['other']:,} other"
        )
    else:
        print(f"{what}: {run.steps} steps; {run.trainable['all']:,} parameters trained")
    where = f" on chip {run.chip_seed} at {run.spec.eval_age_s:g} s" if run.method.analog else ""
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in run.metrics.items())
    print(f"{metrics} ({run.eval_split}{where})")
    print(f"{'adapter' if run.method.trains == 'adapter' else 'model'} saved to {run.artefact}")
    print(f"deployment: {run.out / 'deployment.json'}")


def register(sub: Any) -> None:
    """Add the ``train`` verb."""
    from analora.training.registry import method_names

    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=method_names())
    p.add_argument(
        "--model",
        required=True,
        help="local directory, 'minilm', a Hub id, or the output directory of --method digital",
    )
    p.add_argument(
        "--task", required=True, help="a GLUE task (e.g. sst2) or squad / squad-devsplit"
    )
    p.add_argument(
        "--head", help="the task head's module name (default: classifier, or qa_outputs for SQuAD)"
    )
    p.add_argument("--hardware", default="paper-pcm")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--chip", help="a chip programmed from --model (else one is programmed)")
    p.add_argument("--chip-seed", type=int, help="seed of the chip programmed (default 0)")
    p.add_argument("--chip-age-s", type=float, default=0.0, help="chip-lora: the age to train at")
    p.add_argument(
        "--init-adapter",
        help="warm-start the adapter and head from a saved adapter (or train run) of this model",
    )
    p.add_argument("--eval-age-s", type=float, default=0.0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    recipe = "default: the task's recipe (docs/recipes.md)"
    p.add_argument("--epochs", type=int, help=recipe)
    p.add_argument("--batch-size", type=int, help=recipe)
    p.add_argument("--lr", type=float, help=recipe)
    p.add_argument("--warmup-ratio", type=float, help=recipe)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--targets", default="all", help="all, qkv or ffn")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--max-eval-examples", type=int, default=None)
    p.add_argument("--max-length", type=int, help=f"tokens per example ({recipe})")
    p.add_argument("--doc-stride", type=int, help="SQuAD window overlap (default 128)")
    p.add_argument(
        "--pooling",
        choices=("auto", "cls", "mean"),
        help="classification: first token through the pooler (cls) or mean of the tokens "
        "(default auto: the model's own, mean for sentence-embedding models)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)
