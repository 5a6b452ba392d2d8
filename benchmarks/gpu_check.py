"""GPU checks of the analog engine, in a few minutes, on any torch device.

1. ``layer``: one paper-pcm layer on the CPU and on the device: the same
   error statistics against the exact product (not the same bits: each
   device type has its own generator), and the same bits twice on the device.
2. ``model``: MiniLM (a tiny BERT with ``--quick``) programmed with the same
   seed on both, read after one hour: the same statistics of the chip state
   and of the logits' error; the same fingerprint twice on the device.
3. ``train``: a short ``ahwa-lora`` training through
   :func:`analora.training.methods.train_adapter` on the device.
4. ``sweep``: a direct deployment of the same model and its sweep (two
   chips, two ages) through the CLI (``--device`` where the CLI takes it).
5. ``bench``: ``bench_engine.py --device <device>`` (analog against digital
   eval and train on that device), unless ``--no-bench``.

Each check records its figures and ``ok``; a failing check records its
error and the others still run. Results go under ``"cuda"`` (the device
type) in ``benchmarks/results/engine.json``, beside the engine benchmark's
record for that device; a CPU run (``--device cpu``, the script testing
itself) goes under ``"cpu_selfcheck"``.

Run: ``python benchmarks/gpu_check.py`` (on a machine with CUDA), or
``python benchmarks/gpu_check.py --device cpu --quick --no-bench --out /tmp/x.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "engine.json"
DATA = HERE.parent / ".." / "shared" / "data"


def _moments(x: torch.Tensor) -> dict[str, float]:
    x = x.detach().double().flatten().cpu()
    return {"mean": x.mean().item(), "std": x.std().item()}


def _close(a: dict[str, float], b: dict[str, float], rel: float) -> bool:
    return abs(a["std"] / b["std"] - 1) < rel and abs(a["mean"] - b["mean"]) < rel * b["std"]


def check_layer(device: torch.device, quick: bool) -> dict[str, Any]:
    from analora import load_hardware, seeds
    from analora.analog import AnalogLinear

    g = torch.Generator().manual_seed(0)
    w = torch.randn(384, 1536, generator=g) * 0.05
    layer = AnalogLinear.from_digital(w, torch.zeros(384), load_hardware("paper-pcm")).eval()
    x = torch.randn(512 if quick else 8192, 1536, generator=g)
    ideal = x @ layer.digital_weight().T
    stats, outs = {}, []
    for dev in ("cpu", device.type):
        lay = copy.deepcopy(layer).to(dev)
        for _ in range(2 if dev != "cpu" else 1):
            lay.generator = seeds.generator("gpu-check", device=dev)
            with torch.no_grad():
                outs.append(lay(x.to(dev)).cpu())
        stats[dev] = _moments(outs[-1] - ideal)
    same_bits = torch.equal(outs[-1], outs[-2])
    ok = _close(stats[device.type], stats["cpu"], 0.03) and same_bits
    return {"ok": ok, "error_stats": stats, "same_bits_twice_on_device": same_bits}


def _model(quick: bool) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    if quick:
        cfg = BertConfig(
            vocab_size=30522,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=600,
            max_position_embeddings=128,
            num_labels=2,
        )
        return BertForSequenceClassification(cfg).eval()
    from analora.models import alias_path

    return BertForSequenceClassification.from_pretrained(
        str(alias_path("minilm")), num_labels=2
    ).eval()


def check_model(device: torch.device, quick: bool) -> dict[str, Any]:
    from analora import load_hardware, program

    base = _model(quick)
    ids = torch.randint(1000, 20000, (8 if quick else 32, 64), generator=torch.Generator())
    with torch.no_grad():
        digital = base(input_ids=ids).logits
    out: dict[str, Any] = {}
    for dev in ("cpu", device.type):
        model = copy.deepcopy(base).to(dev)
        start = time.perf_counter()
        chip = program(model, load_hardware("paper-pcm"), seed=3, exclude=["classifier"])
        program_s = time.perf_counter() - start
        again = program(
            copy.deepcopy(base).to(dev), load_hardware("paper-pcm"), seed=3, exclude=["classifier"]
        )
        chip.read(3600.0)
        with torch.no_grad():
            logits = model(input_ids=ids.to(dev)).logits.cpu()
        g = torch.cat([st["g_prog_uS"].flatten() for st in chip.state.values()])
        out[dev] = {
            "program_s": program_s,
            "same_fingerprint_twice": chip.fingerprint() == again.fingerprint(),
            "g_prog_uS": _moments(g),
            "logit_error": _moments(logits - digital),
        }
    a, b = out[device.type], out["cpu"]
    out["ok"] = (
        a["same_fingerprint_twice"]
        and _close(a["g_prog_uS"], b["g_prog_uS"], 0.01)
        and _close(a["logit_error"], b["logit_error"], 0.25)
    )
    return out


def _tiny_run_inputs(model_dir: Path, quick: bool) -> tuple[dict, dict]:
    from transformers import AutoTokenizer

    from analora.tasks import limit_splits, load_task, tokenize_split
    from analora.training.methods import classification_tensors

    task = load_task("sst2", data_dir=DATA)
    n = 64 if quick else 512
    splits = limit_splits(task.spec, task.splits, max_train=n, max_eval=n // 2, seed=0)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    data = {}
    for split in ("train", "validation"):
        ds = tokenize_split(tok, "sst2", splits[split], split, max_length=32, use_cache=False)
        data[split] = classification_tensors(ds.dataset)
    return data["train"], data["validation"]


def check_train_and_sweep(device: torch.device, quick: bool, work: Path) -> dict[str, Any]:
    import shutil

    from analora import load_hardware
    from analora.models import alias_path
    from analora.training import TrainConfig
    from analora.training.methods import train_adapter

    model_dir = work / "model"
    base = _model(quick)
    base.save_pretrained(model_dir)
    for f in Path(alias_path("minilm")).iterdir():  # the MiniLM tokenizer
        if "token" in f.name or f.name == "vocab.txt":
            shutil.copy(f, model_dir / f.name)
    train, dev_data = _tiny_run_inputs(model_dir, quick)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=2e-3, seed=0, primary_metric="accuracy")
    start = time.perf_counter()
    result = train_adapter(
        "ahwa-lora",
        base.to(device),
        "sst2",
        train,
        dev_data,
        load_hardware("paper-pcm"),
        cfg,
        work / "run",
        model_spec=str(model_dir),
        device=device,
    )
    train_s = time.perf_counter() - start
    out: dict[str, Any] = {"train_s": train_s, "metrics": result.metrics}
    out["sweep"] = _sweep(device, quick, model_dir, work)
    out["ok"] = out["sweep"]["cells"] == 4 and 0.0 <= result.metrics["accuracy"] <= 100.0
    return out


def _sweep(device: torch.device, quick: bool, model_dir: Path, work: Path) -> dict[str, Any]:
    """A direct deployment and its sweep through the CLI (a sweep reads a
    training run directory), with ``--device`` where the CLI takes it."""
    import contextlib
    import io

    from analora.cli import main as cli

    n = "32" if quick else "200"
    common = ["--data-dir", str(DATA), "--max-eval-examples", n]
    train = ["train", "--method", "direct", "--model", str(model_dir), "--task", "sst2"]
    assert cli([*train, *common, "--out", str(work / "direct"), "--max-length", "32"]) == 0
    sweep = ["sweep", "--deployment", str(work / "direct"), "--chips", "2"]
    sweep += ["--times", "0", "1h", *common[:2], "--out", str(work / "sweep")]
    start = time.perf_counter()
    used = str(device)
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            rc = cli([*sweep, "--device", str(device)])
        except SystemExit as exc:  # the CLI does not take --device yet
            rc = int(exc.code or 2)
    if rc == 2:
        used = "cpu (the sweep CLI takes no --device)"
        rc = cli(sweep)
    results = json.loads((work / "sweep" / "results.json").read_text())
    return {
        "rc": rc,
        "device": used,
        "seconds": time.perf_counter() - start,
        "cells": len(results["cells"]),
    }


def check_bench(device: torch.device, quick: bool, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import bench_engine

    argv = ["--device", str(device), "--out", str(out), "--reps", "2" if quick else "5"]
    if quick:
        argv += ["--batch", "2", "--seq", "16", "--no-aihwkit"]
    bench_engine.main(argv)
    data = json.loads(out.read_text())
    record = data.get(device.type, data)
    return {"ok": True, "results": record["results"]}


def _run(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        res = fn()
    except Exception as exc:  # a failed check is recorded; the others still run
        res = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(limit=4),
        }
    res["seconds"] = time.perf_counter() - start
    print(f"{name}: {'ok' if res.get('ok') else 'FAILED'} ({res['seconds']:.1f} s)", flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (the self-test)")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument(
        "--checks", default="layer,model,train_sweep", help="comma-separated subset to run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: run with --device cpu to test the script itself")
        return 2
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wanted = set(args.checks.split(","))
        if "layer" in wanted:
            checks["layer"] = _run("layer", lambda: check_layer(device, args.quick))
        if "model" in wanted:
            checks["model"] = _run("model", lambda: check_model(device, args.quick))
        if "train_sweep" in wanted:
            checks["train_sweep"] = _run(
                "train+sweep", lambda: check_train_and_sweep(device, args.quick, work)
            )
        if not args.no_bench:
            checks["bench"] = _run("bench", lambda: check_bench(device, args.quick, args.out))
    key = device.type if device.type != "cpu" else "cpu_selfcheck"
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    entry = data.get(key) if isinstance(data.get(key), dict) else {}
    entry["checks"] = checks
    entry["checks_device"] = torch.cuda.get_device_name() if device.type == "cuda" else str(device)
    data[key] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp_out.replace(args.out)
    return 0 if all(c.get("ok") for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
