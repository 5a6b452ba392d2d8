"""Cheaper steps: dynamic padding and LoRA dropout, examples per second
before and after, on SST-2, CoLA and RTE.

Before: every batch padded to the task's ``max_length`` (128) in the seeded
order (the engine of the previous release). After: batches grouped by length
and cut to their longest row (``analora.training.batching``). Measured side
by side in one process on the same examples, with the packaged MiniLM:

* training: ``ahwa-lora`` steps (forward, backward, AdamW) under ``paper-pcm``;
* evaluation: the analog model on a programmed chip read at 1 year;
* LoRA dropout: ``digital-lora`` steps on the length-grouped batches with
  peft's ``nn.Dropout`` against :class:`analora.adapters.dropout.LoraDropout`,
  alternating batch by batch in the same model (the share of a step the
  dropout mask cost is largest where the analog forward adds nothing).

Writes ``benchmarks/results/padding.json``; docs/performance.md quotes it.
Run: ``./run bench padding`` (``--train-batches``, ``--eval-examples``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from _common import RESULTS_DIR, environment, write_json

TASKS = ("sst2", "cola", "rte")
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _model_and_data(task: str, n_train: int, n_eval: int) -> tuple[Any, Any, Any, Any]:
    from analora import load_hardware, program
    from analora.adapters import add_lora
    from analora.models import resolve
    from analora.training.data import task_inputs
    from analora.workflows.train import load_task_model

    inputs = task_inputs(
        task, resolve("minilm"), data_dir=DATA, max_train_examples=n_train,
        max_eval_examples=n_eval, max_length=128, seed=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = load_task_model(resolve("minilm"), inputs.spec, "mean")
    chip = program(model, load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
    peft_model = add_lora(model, head=["classifier"])
    return peft_model, chip, inputs.train, inputs.evaluation


def _train_rate(model: Any, data: dict, batches: list[dict]) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    start, n = time.perf_counter(), 0
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        opt.step()
        n += len(batch["labels"])
    return n / (time.perf_counter() - start)


def _static_eval(model: Any, data: dict, batch_size: int = 64) -> None:
    inputs = {k: v for k, v in data.items() if k != "labels"}
    n = len(data["labels"])
    for i in range(0, n, batch_size):
        model(**{k: v[i : i + batch_size] for k, v in inputs.items()})


def measure(task: str, train_batches: int, eval_examples: int, batch: int = 32) -> dict:
    from analora.training.batching import batch_indices, sequence_lengths, trim_padding
    from analora.training.methods import evaluate_classification

    model, chip, train, dev = _model_and_data(task, train_batches * batch, eval_examples)
    n = len(train["labels"])
    plain = batch_indices(n, batch, seed=0, epoch=0)
    grouped = batch_indices(n, batch, seed=0, epoch=0, lengths=sequence_lengths(train))
    static = [{k: v[i] for k, v in train.items()} for i in plain]
    dynamic = [trim_padding({k: v[i] for k, v in train.items()}) for i in grouped]
    chip.use_target()
    _train_rate(model, train, static[:1] + dynamic[:1])  # one-time costs (kernels, allocator)
    out: dict[str, Any] = {"train_examples": n, "eval_examples": len(dev["labels"])}
    out["train_static_ex_per_s"] = _train_rate(model, train, static)
    out["train_dynamic_ex_per_s"] = _train_rate(model, train, dynamic)
    chip.read(31536000.0)
    model.eval()
    with torch.no_grad():
        _static_eval(model, {k: v[:8] for k, v in dev.items()})  # warm the eval path
        t0 = time.perf_counter()
        _static_eval(model, dev)
        t1 = time.perf_counter()
        evaluate_classification(model, task, dev)
        t2 = time.perf_counter()
    out["eval_static_ex_per_s"] = len(dev["labels"]) / (t1 - t0)
    out["eval_dynamic_ex_per_s"] = len(dev["labels"]) / (t2 - t1)
    out["train_speedup"] = out["train_dynamic_ex_per_s"] / out["train_static_ex_per_s"]
    out["eval_speedup"] = out["eval_dynamic_ex_per_s"] / out["eval_static_ex_per_s"]
    lengths = sequence_lengths(dev)
    out["dev_mean_tokens"] = float(lengths.float().mean()) if lengths is not None else None
    out.update(_dropout_rates(train, dynamic))
    return out


def _dropout_rates(train: dict, batches: list[dict]) -> dict[str, float]:
    """digital-lora examples per second with each dropout, batch by batch."""
    from peft import LoraConfig, get_peft_model
    from torch import nn

    from analora.adapters.dropout import LoraDropout
    from analora.analog.convert import mappable_layers
    from analora.models import resolve
    from analora.tasks import get_task
    from analora.workflows.train import load_task_model

    torch.manual_seed(0)
    model = load_task_model(resolve("minilm"), get_task("sst2"), "mean")
    names = [n for n, _ in mappable_layers(model, exclude=["classifier"])]
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=names,
                        modules_to_save=["classifier"])  # fmt: skip
    model = get_peft_model(model, config)
    slots = [
        m.lora_dropout
        for m in model.modules()
        if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)
    ]
    kinds = {"native": [dict(s.items()) for s in slots],
             "lora": [{k: LoraDropout(d.p) for k, d in s.items()} for s in slots]}  # fmt: skip
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    seconds = {"native": 0.0, "lora": 0.0}
    for i, batch in enumerate(batches[:1] + batches):
        for kind in ("native", "lora") if i % 2 else ("lora", "native"):
            for slot, modules in zip(slots, kinds[kind], strict=True):
                slot.update(modules)
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
            opt.step()
            if i:  # the first batch warms both
                seconds[kind] += time.perf_counter() - start
    n = sum(len(b["labels"]) for b in batches)
    return {
        "digital_lora_native_dropout_ex_per_s": n / seconds["native"],
        "digital_lora_lora_dropout_ex_per_s": n / seconds["lora"],
        "dropout_speedup": seconds["native"] / seconds["lora"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-batches", type=int, default=6)
    parser.add_argument("--eval-examples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "padding.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    results = {t: measure(t, args.train_batches, args.eval_examples) for t in TASKS}
    write_json(args.out, {"results": results, "environment": environment(args.threads)})
    for task, r in results.items():
        print(
            f"{task}: train {r['train_static_ex_per_s']:.1f} -> {r['train_dynamic_ex_per_s']:.1f} "
            f"ex/s (x{r['train_speedup']:.2f}); eval {r['eval_static_ex_per_s']:.1f} -> "
            f"{r['eval_dynamic_ex_per_s']:.1f} ex/s (x{r['eval_speedup']:.2f}); digital-lora "
            f"with LoraDropout x{r['dropout_speedup']:.2f}"
        )


if __name__ == "__main__":
    main()
