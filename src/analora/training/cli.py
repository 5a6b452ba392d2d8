"""``analora train``: every method on a GLUE task or SQuAD.

Runs in one process, or in several under ``accelerate launch`` (the main
process writes the outputs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json

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
        "doc_stride",
        "head",
        "seed",
        "chip_seed",
        "chip_age_s",
        "eval_age_s",
        "init_adapter",
    )
    return {
        "format": "analora-run/1",
        **{k: getattr(args, k) for k in keys},
        "hardware_fingerprint": hardware_fp,
    }


def _resolve_model(spec: str) -> tuple[str, dict[str, Any] | None]:
    """``--model`` may name an output directory of ``analora train`` (its
    deployment's model is used) or any model :func:`analora.models.resolve` takes."""
    from analora.training.deployment import FILE, read_deployment

    run = Path(spec).expanduser()
    if (run / FILE).is_file():
        record = read_deployment(run)
        path = record["model"].get("path")
        if record["kind"] == "adapter" or not path:
            raise AnaloraError(
                f"--model {spec} holds a {record['method']} adapter, not a model: "
                "pass the output of --method digital"
            )
        if record["model"].get("format") != "hf":
            raise AnaloraError(
                f"--model {spec} holds a trained analog model ({record['method']}), which only "
                "deploys: sweep it with 'analora sweep', or pass the output of --method digital"
            )
        return str(run / path), record
    return spec, None


def _pick_device(name: str, method: str) -> str:
    import torch

    from analora.training.methods import ANALOG_METHODS

    if name == "auto":
        use_gpu = torch.cuda.is_available() and method not in ANALOG_METHODS
        return "cuda" if use_gpu else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise AnaloraError(
            f"--device {name!r} is not a device: use cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AnaloraError(f"--device {name}: no CUDA device is visible here; use --device cpu")
    return name


def _accelerator(device: str) -> Any:
    """An ``accelerate.Accelerator`` under ``accelerate launch`` with more than
    one process, else None (one process needs no wrapper)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=device == "cpu")


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or deploy) a method and save its artefact, log and deployment."""
    from tqdm import tqdm

    from analora.adapters import trainable_parameters
    from analora.analog import load_chip
    from analora.hardware import load_hardware
    from analora.models import load_model, resolve
    from analora.tasks import get_task
    from analora.training.data import task_inputs
    from analora.training.methods import (
        ADAPTER_METHODS,
        HEADS,
        LoraSettings,
        check_device,
        default_lr,
        deploy_direct,
        train_adapter,
        train_full,
    )
    from analora.training.trainer import TrainConfig

    method = args.method
    hw = load_hardware(args.hardware, args.set or None)
    spec = get_task(args.task)
    model_class = spec.model_class  # sequence-classification or question-answering
    head = args.head or HEADS[model_class]
    if args.init_adapter and method not in ("ahwa-lora", "chip-lora"):
        raise AnaloraError(
            f"--init-adapter warm-starts ahwa-lora and chip-lora, not {method}: drop it"
        )
    if args.chip and method not in ("ahwa-lora", "chip-lora"):
        raise AnaloraError(f"--chip is for ahwa-lora and chip-lora, not {method}: drop --chip")
    device = _pick_device(args.device, method)
    check_device(method, device)
    model_path, source = _resolve_model(args.model)
    if method in ("direct", "ahwa") and (source is None or source.get("method") != "digital"):
        print(
            f"note: --method {method} expects a fine-tuned model (the output of --method "
            f"digital); {args.model} is used as it is",
            file=sys.stderr,
        )
    if args.lr is None:
        args.lr = default_lr(method)
    cfg = None
    if method != "direct":  # direct trains nothing
        cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            warmup_ratio=args.warmup_ratio,
            seed=args.seed,
            primary_metric=spec.primary_metric,
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
    acc = _accelerator(device)
    main = acc is None or acc.is_main_process
    if acc is not None:
        acc.wait_for_everyone()  # every process checked --out before the main one writes
    lora = LoraSettings(
        r=args.rank, alpha=args.lora_alpha, dropout=args.lora_dropout, targets=args.targets
    )
    inputs = task_inputs(
        spec.name,
        resolve(model_path),
        data_dir=args.data_dir,
        max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples,
        max_length=args.max_length,
        doc_stride=args.doc_stride,
        seed=args.seed,
        with_train=method != "direct",
    )
    eval_split, evaluation, tokenizer = inputs.eval_split, inputs.evaluation, inputs.tokenizer
    train_tensors = inputs.train
    # A new task head is initialised from the seed, not from whatever the
    # process drew before (the demo runs several commands in one process).
    import torch

    from analora.seeds import derive_seed

    torch.manual_seed(derive_seed(args.seed, "head-init"))
    if model_class == "question-answering":
        model = load_model(model_path, model_class)
    else:
        model = load_model(model_path, model_class, num_labels=spec.num_labels)
    positions = getattr(model.config, "max_position_embeddings", None)
    length = args.max_length or spec.max_length
    if isinstance(positions, int) and length > positions:
        raise AnaloraError(
            f"--max-length {length} exceeds the model's {positions} positions: "
            f"pass --max-length {positions} or less"
        )
    chip = load_chip(args.chip, model) if args.chip else None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_file, record)
    if acc is not None:
        acc.wait_for_everyone()
    bar = tqdm(
        total=None, desc=method, unit="step", file=sys.stderr, disable=None if main else True
    )

    def progress(p: dict[str, Any]) -> None:
        bar.total = p["total"]
        bar.n = p["step"]
        bar.set_postfix(loss=f"{p['loss']:.4f}", lr=f"{p['lr']:.2e}")
        bar.refresh()

    common: dict[str, Any] = {"eval_split": eval_split, "head": head}
    if method == "direct":
        result = deploy_direct(
            model,
            spec.name,
            evaluation,
            hw,
            out,
            chip_seed=args.chip_seed,
            eval_age_s=args.eval_age_s,
            tokenizer=tokenizer,
            **common,
        )
    elif method in ADAPTER_METHODS:
        assert cfg is not None and train_tensors is not None
        result = train_adapter(
            method,
            model,
            spec.name,
            train_tensors,
            evaluation,
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
            model_spec=model_path,
            chip_dir=args.chip,
            device=device,
            accelerator=acc,
            init_adapter=args.init_adapter,
            **common,
        )
    else:
        assert cfg is not None and train_tensors is not None
        result = train_full(
            method,
            model,
            spec.name,
            train_tensors,
            evaluation,
            hw if method == "ahwa" else None,
            cfg,
            out,
            chip_seed=args.chip_seed,
            eval_age_s=args.eval_age_s,
            resume=args.resume,
            progress=progress,
            tokenizer=tokenizer,
            device=device,
            accelerator=acc,
            model_class=model_class,
            **common,
        )
    bar.close()
    if not main:
        return 0
    if result.train is None:
        print(f"{method} on {spec.name}: programmed chip {args.chip_seed}, no training")
    elif method in ADAPTER_METHODS:
        counts = trainable_parameters(result.model)
        print(
            f"{method} on {spec.name}: {result.train.steps} steps; trainable parameters: "
            f"{counts['lora']:,} adapter + {counts['head']:,} head + {counts['other']:,} other"
        )
    else:
        n = sum(p.numel() for p in result.model.parameters())
        print(f"{method} on {spec.name}: {result.train.steps} steps; {n:,} parameters trained")
    where = f" on chip {args.chip_seed} at {args.eval_age_s:g} s" if method != "digital" else ""
    if method == "digital-lora":
        where = ""
    print(", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items()) + f" ({eval_split}{where})")
    print(f"{'adapter' if method in ADAPTER_METHODS else 'model'} saved to {result.artefact}")
    print(f"deployment: {out / 'deployment.json'}")
    return 0


def register(sub: Any) -> None:
    """Add the ``train`` verb to the CLI."""
    from analora.training.methods import METHODS

    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument(
        "--model",
        required=True,
        help="local directory, 'minilm', a Hub id, or the output directory of --method digital",
    )
    p.add_argument(
        "--task", required=True, help="a GLUE task (e.g. sst2) or squad / squad-devsplit"
    )
    p.add_argument(
        "--head",
        default=None,
        help="the task head's module name (default: classifier, or qa_outputs for SQuAD)",
    )
    p.add_argument("--hardware", default="paper-pcm")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument(
        "--chip", default=None, help="a chip programmed from --model (else one is programmed)"
    )
    p.add_argument("--chip-seed", type=int, default=0)
    p.add_argument(
        "--chip-age-s", type=float, default=0.0, help="chip-lora: the age to train against"
    )
    p.add_argument(
        "--init-adapter",
        default=None,
        help="warm-start the adapter and head from a saved adapter (or train run) of this model",
    )
    p.add_argument("--eval-age-s", type=float, default=0.0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--lr", type=float, default=None, help="default 2e-4 for adapters, 5e-5 for digital/ahwa"
    )
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N or auto (analog methods: cpu)"
    )
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--targets", default="all", help="all, qkv or ffn")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--max-eval-examples", type=int, default=None)
    p.add_argument(
        "--max-length", type=int, default=None, help="default: the task's (128 GLUE, 384 SQuAD)"
    )
    p.add_argument(
        "--doc-stride", type=int, default=None, help="SQuAD window overlap (default 128)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)
