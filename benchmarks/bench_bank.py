"""Bank benchmark: switching adapters on one programmed chip, and mixed-task
batches against the tasks one after another.

The packaged MiniLM (sequence classification) is programmed once under
``paper-pcm``; ``--tasks`` adapters (rank 8 on every analog layer, a head
each, random weights: only time and memory count) are saved and loaded into
one :class:`~analora.adapters.bank.AdapterBank`.

* ``switch``: ``--switches`` switches round-robin over the tasks, each timed;
  a forward pass (``--batch`` x ``--seq`` tokens, chip read at 1 day) after
  every 10th. RSS after a warm-up and after the last switch; the growth is
  the figure (flat memory: about 0 MiB). The bytes a switch stands for
  (the adapter at FP16) are recorded beside the time.
* ``mixed``: the same traffic, ``--per-task`` examples of each task arriving
  together, served (a) as mixed-task batches of ``--batch`` x tasks examples,
  one analog pass each, and (b) one task after another (switch, then that
  task's examples in batches of ``--batch``). Each way runs ``--repeats``
  times alternately in this process; the figure is the ratio of their best
  times (examples per second, mixed over sequential).

Run: ``./run bench bank`` or ``.venv/bin/python benchmarks/bench_bank.py``
(writes benchmarks/results/bank.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from _common import environment, peak_mib, rss_mib, write_json

RESULTS = Path(__file__).parent / "results" / "bank.json"


def build_bank(tasks: int, tmp: Path) -> Any:
    from transformers import AutoModelForSequenceClassification

    from analora import load_hardware, program
    from analora.adapters import add_lora, save_adapter
    from analora.adapters.bank import AdapterBank
    from analora.models import alias_path

    def fresh() -> Any:
        model = AutoModelForSequenceClassification.from_pretrained(str(alias_path("minilm")))
        return model.eval()

    chip = program(fresh(), load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
    bank = AdapterBank(chip)
    for k in range(tasks):
        model = fresh()
        program(model, load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
        peft_model = add_lora(model, head=["classifier"])
        gen = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if ".lora_B." in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        path = save_adapter(peft_model, tmp / f"task{k}", task="sst2", method="ahwa-lora", seed=k)
        bank.add(f"task{k}", path)
        del model, peft_model
    gc.collect()
    return bank


def inputs(n: int, seq: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 29000, (n, seq), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def switch_bench(bank: Any, switches: int, batch: int, seq: int) -> dict[str, Any]:
    names = bank.names
    x = inputs(batch, seq, 0)
    bank.chip.read(86400.0)
    for k in range(50):  # warm-up
        bank.switch(names[k % len(names)])
        if k % 10 == 0:
            bank(**x)
    gc.collect()
    before = rss_mib()
    times = []
    trace = []
    for k in range(switches):
        t0 = time.perf_counter()
        entry = bank.switch(names[k % len(names)])
        times.append(time.perf_counter() - t0)
        if k % 10 == 0:
            bank(**x)
        if k % 100 == 99:
            trace.append(round(rss_mib(), 1))
    gc.collect()
    after = rss_mib()
    return {
        "switches": switches,
        "forward_every": 10,
        "switch_us": {
            "median": round(1e6 * statistics.median(times), 1),
            "mean": round(1e6 * statistics.fmean(times), 1),
            "max": round(1e6 * max(times), 1),
        },
        "adapter_fp16_bytes": entry.fp16_bytes,
        "adapter_params": {"lora": entry.lora_params, "head": entry.head_params},
        "rss_MiB": {"after_warmup": round(before, 1), "after": round(after, 1), "every_100": trace},
        "rss_growth_MiB": round(after - before, 1),
    }


def mixed_bench(bank: Any, per_task: int, batch: int, seq: int, repeats: int) -> dict[str, Any]:
    names = bank.names
    data = {n: inputs(per_task, seq, 10 + k) for k, n in enumerate(names)}
    order = [(n, i) for i in range(per_task) for n in names]  # traffic arrives interleaved
    mixed_batch = batch * len(names)

    def mixed() -> None:
        for s in range(0, len(order), mixed_batch):
            chunk = order[s : s + mixed_batch]
            x = {k: torch.stack([data[n][k][i] for n, i in chunk]) for k in data[names[0]]}
            bank.forward_mixed([n for n, _ in chunk], **x)

    def sequential() -> None:
        for n in names:
            bank.switch(n)
            for s in range(0, per_task, batch):
                bank(**{k: v[s : s + batch] for k, v in data[n].items()})

    timings: dict[str, list[float]] = {"mixed": [], "sequential": []}
    with torch.no_grad():
        bank.chip.read(86400.0)
        mixed()  # warm-up
        for _ in range(repeats):
            for name, fn in (("mixed", mixed), ("sequential", sequential)):
                t0 = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - t0)
    n = per_task * len(names)
    best = {k: min(v) for k, v in timings.items()}
    return {
        "tasks": len(names),
        "examples": n,
        "seq": seq,
        "mixed_batch": mixed_batch,
        "sequential_batch": batch,
        "seconds": {k: [round(x, 3) for x in v] for k, v in timings.items()},
        "examples_per_s": {k: round(n / v, 2) for k, v in best.items()},
        "mixed_over_sequential": round(best["sequential"] / best["mixed"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--switches", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--per-task", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        bank = build_bank(args.tasks, Path(tmp))
        build_s = time.perf_counter() - t0
        fingerprint = bank.chip.fingerprint()
        result: dict[str, Any] = {
            "build_s": round(build_s, 1),
            "switch": switch_bench(bank, args.switches, args.batch, args.seq),
            "mixed": mixed_bench(bank, args.per_task, args.batch, args.seq, args.repeats),
            "chip_fingerprint_unchanged": bank.chip.fingerprint() == fingerprint,
            "peak_rss_MiB": round(peak_mib(), 1),
            "environment": environment(args.threads),
        }
    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1))


if __name__ == "__main__":
    main()
