"""Scale benchmark: a BERT-large-sized model, and many chips in sequence.

* ``large``: ``BertForSequenceClassification`` built from a BERT-large config
  (24 layers, hidden 1024, 16 heads, FFN 4096; about 335M parameters, random
  weights: only time and memory count) is converted under ``paper-pcm``,
  programmed, read at 1 day and evaluated on one batch (8 x 128 tokens). Each
  phase's wall time and the process's peak RSS after it are recorded; the
  goal is a peak within 24 GiB.
* ``many_chips``: the packaged MiniLM programmed and read (at 1 year) as
  ``--chips`` chips in sequence, one after another on the same converted
  model; the RSS after each chip is recorded, and the growth from the 5th
  chip to the last is the figure (flat memory means near 0 MiB).

Run: ``./run bench scale`` or ``.venv/bin/python benchmarks/bench_scale.py``
(writes benchmarks/results/scale.json). ``--chips`` sets the chip count
(default 100); ``--skip-large`` runs only the chip sequence.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any

import torch

from _common import RESULTS_DIR, environment, peak_mib, rss_mib, write_json

RESULTS = RESULTS_DIR / "scale.json"


def large(batch: int, seq: int) -> dict[str, Any]:
    from transformers import BertConfig, BertForSequenceClassification

    from analora import convert, load_hardware, program

    out: dict[str, Any] = {"phases": {}}

    def phase(name: str, fn: Any) -> Any:
        start = time.perf_counter()
        value = fn()
        out["phases"][name] = {
            "s": round(time.perf_counter() - start, 2),
            "peak_rss_MiB": round(peak_mib(), 1),
        }
        return value

    torch.manual_seed(0)
    cfg = BertConfig(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        num_labels=2,
    )
    model = phase("build", lambda: BertForSequenceClassification(cfg).eval())
    out["parameters"] = sum(p.numel() for p in model.parameters())
    report = phase(
        "convert", lambda: convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
    )
    out["analog_parameters"] = report.analog_params
    out["tiles"] = report.tiles
    chip = phase("program", lambda: program(model, seed=0))
    phase("read_1d", lambda: chip.read(86400.0))
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1))

    def evaluate() -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=ids).logits

    logits = phase("evaluate_one_batch", evaluate)
    out["finite_logits"] = bool(torch.isfinite(logits).all())
    out["batch"] = [batch, seq]
    out["peak_rss_GiB"] = round(peak_mib() / 1024.0, 2)
    out["goal"] = "peak RSS <= 24 GiB"
    out["met"] = out["peak_rss_GiB"] <= 24.0
    return out


def many_chips(n: int) -> dict[str, Any]:
    from transformers import BertForSequenceClassification

    from analora import convert, load_hardware, program
    from analora.models import alias_path

    model = BertForSequenceClassification.from_pretrained(str(alias_path("minilm")), num_labels=2)
    convert(model.eval(), load_hardware("paper-pcm"), exclude=["classifier"])
    rss = []
    start = time.perf_counter()
    for seed in range(n):
        chip = program(model, seed=seed)
        chip.read(31536000.0)
        chip.use_target()
        del chip
        gc.collect()
        rss.append(round(rss_mib(), 1))
    first = min(4, n - 1)
    return {
        "chips": n,
        "model": "all-MiniLM-L6-v2 (37 analog layers)",
        "seconds": round(time.perf_counter() - start, 1),
        "rss_MiB_after_each_chip": rss,
        "growth_MiB_from_chip_5_to_last": round(rss[-1] - rss[first], 1),
        "max_minus_min_after_chip_5_MiB": round(max(rss[first:]) - min(rss[first:]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    result: dict[str, Any] = {
        "many_chips": many_chips(args.chips),
        "large": None if args.skip_large else large(args.batch, args.seq),
        "environment": environment(args.threads),
    }
    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1)[:3000])


if __name__ == "__main__":
    main()
