"""Engine benchmark: analora against plain torch and aihwkit, side by side.

Workload: the packaged all-MiniLM-L6-v2 (22.7M parameters) as
``BertForSequenceClassification``, batch 32 x sequence 128, 2 threads, one
process. Each repetition times digital, analora and (when installed) aihwkit
back to back, so machine noise hits all of them alike; the reported figures
are medians of the per-repetition ratios.

* ``eval_ratio``: analora inference forward under ``paper-pcm`` (chip aged
  1 hour: output noise, ADC, drift compensation) / digital forward.
* ``eval_noise_floor_ratio``: (digital forward + drawing the output noise
  alone) / digital forward: what no implementation that draws one Gaussian
  per analog output with torch's CPU generator can go below.
* ``train_ratio``: forward + backward with frozen analog weights and training
  weight noise / digital forward + backward with frozen linear weights.
* ``vs_aihwkit_eval`` / ``vs_aihwkit_train``: aihwkit ``TorchInferenceTile``
  time / analora time on the same settings.
* ``program_s``: programming the whole converted model (drawing programming
  noise and drift exponents, measuring the drift-compensation references).
* ``*_unfused``: the same analora runs with the fused kernels off
  (``analora.fused.kernels(False)``: the torch path), side by side.
* ``kernels``: whether the fused kernels ran, their cold build time (into an
  empty cache) and their load time from the cache.
* ``peak_rss_MiB_per_system``: each system alone in a fresh process, peak RSS
  after loading, after one eval forward and after one train step.

Run: ``./run bench`` (writes benchmarks/results/engine.json). With
``--device cuda`` the same comparison runs on the GPU (no aihwkit, no
per-process memory) and is recorded under ``"cuda"`` in the same file.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results" / "engine.json"
GOALS = {
    "eval_ratio": "<= 1.5 (aim 1.3)",
    "train_ratio": "<= 1.25",
    "vs_aihwkit_eval": ">= 2.0",
    "vs_aihwkit_train": ">= 2.0",
    "program_s": "<= 0.3",
}
CUDA_GOALS = {"eval_ratio": "<= 1.3"}
_DEVICE = torch.device("cpu")


def _timed(fn: Any) -> float:
    if _DEVICE.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if _DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _kernel_times() -> dict[str, Any]:
    """Cold build time of the fused kernels (into an empty cache, in a fresh
    process) and their load time from the cache."""
    import subprocess
    import tempfile

    code = (
        "import time, torch; from analora import fused; t = time.perf_counter(); "
        "ok = fused.load() is not None; print(ok, time.perf_counter() - t)"
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ANALORA_CACHE_DIR": tmp}
        for label in ("build_s", "load_cached_s"):
            proc = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env
            )
            ok, seconds = proc.stdout.split()
            out["available"] = ok == "True"
            out[label] = float(seconds)
    return out


def _load_minilm() -> torch.nn.Module:
    import transformers
    from transformers import BertForSequenceClassification

    from analora.models import alias_path

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    return (
        BertForSequenceClassification.from_pretrained(str(alias_path("minilm")), num_labels=2)
        .eval()
        .to(_DEVICE)
    )


def _freeze_linear_weights(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.requires_grad_(False)


def _train_step(model: torch.nn.Module, ids: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(input_ids=ids).logits.float().pow(2).mean().backward()


def _noise_floor(model: torch.nn.Module, n_tokens: int) -> float:
    """Seconds to draw one N(0, 1) per analog output of one forward pass."""
    from analora import seeds
    from analora.analog import analog_layers

    gen = torch.Generator().manual_seed(0)
    bufs = [torch.empty(n_tokens, layer.out_features) for _, layer in analog_layers(model)]
    for b in bufs:  # touch the pages once, as the forward's scratch buffers are
        b.zero_()
    return _timed(lambda: [seeds.normal_(b, gen) for b in bufs])


def _peak_rss_MiB() -> float:
    """Peak resident set size of this process (VmHWM; unlike ru_maxrss it is
    not inherited from the parent across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(system: str, batch: int, seq: int) -> None:
    """In a fresh process: one eval forward and one train step of one system;
    print the process's peak RSS (MiB) as JSON."""
    from analora import load_hardware, program
    from analora.analog import convert

    hw = load_hardware("paper-pcm")
    model = _load_minilm()
    ids = torch.randint(1000, 20000, (batch, seq), generator=torch.Generator().manual_seed(0))
    if system == "digital":
        _freeze_linear_weights(model)
        evaluator, trainer = model, model
    elif system == "analora":
        chip = program(model, hw, seed=0)
        chip.read(3600.0)
        evaluator = trainer = model
    else:
        from aihwkit.nn.conversion import convert_to_analog

        from analora.hardware.aihwkit_bridge import rpu_config_for

        evaluator = trainer = convert_to_analog(model, rpu_config_for(hw))
        for name, p in trainer.named_parameters():
            if name.endswith("tile.weight"):
                p.requires_grad_(False)
    del convert
    loaded = _peak_rss_MiB()
    with torch.no_grad():
        evaluator.eval()(input_ids=ids)
    after_eval = _peak_rss_MiB()
    if system == "analora":
        chip.use_target()
    _train_step(trainer.train(), ids)
    print(json.dumps({"loaded": loaded, "eval": after_eval, "train": _peak_rss_MiB()}))


def _memory(batch: int, seq: int, systems: list[str]) -> dict[str, Any]:
    import subprocess

    out = {}
    for system in systems:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                system,
                "--batch",
                str(batch),
                "--seq",
                str(seq),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        out[system] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _write(path: Path, record: dict[str, Any], key: str | None) -> None:
    """Write the CPU record at the top level, keeping any device records
    (``"cuda"``) already in the file; or a device record under ``key``."""
    old: dict[str, Any] = {}
    if path.exists():
        old = json.loads(path.read_text())
    if key is None:
        record.update({k: v for k, v in old.items() if k == "cuda"})
        data = record
    else:
        data = {**old, key: record}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-aihwkit", action="store_true")
    parser.add_argument("--device", default="cpu", help="torch device (cuda: GPU comparison)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global _DEVICE
    _DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        _memory_child(args.memory_child, args.batch, args.seq)
        return 0

    from analora import load_hardware, program
    from analora.analog import convert

    hw = load_hardware("paper-pcm")
    rss: dict[str, float] = {}
    digital = _load_minilm()
    rss["digital_loaded"] = _peak_rss_MiB()
    ids = torch.randint(
        1000, 20000, (args.batch, args.seq), generator=torch.Generator().manual_seed(0)
    ).to(_DEVICE)
    on_cpu = _DEVICE.type == "cpu"
    kernels = _kernel_times() if on_cpu else {"available": False}

    # Programming: median of 3 fresh programmings of a converted copy.
    program_times, convert_times = [], []
    for seed in range(3):
        model = copy.deepcopy(digital)
        convert_times.append(_timed(lambda m=model: convert(m, hw)))
        program_times.append(_timed(lambda m=model, s=seed: program(m, seed=s)))
    chip = program(copy.deepcopy(digital), hw, seed=0)
    read_s = _timed(lambda: chip.read(3600.0))
    analog = chip.model.eval()

    trainers: dict[str, torch.nn.Module] = {}
    trainers["digital"] = copy.deepcopy(digital).train()
    _freeze_linear_weights(trainers["digital"])
    train_model = copy.deepcopy(digital)
    convert(train_model, hw)
    trainers["analora"] = train_model.train()  # target weights + fresh weight noise

    rss["analora_built"] = _peak_rss_MiB()
    chip_state_MiB = (
        sum(t.numel() * t.element_size() for st in chip.state.values() for t in st.values()) / 2**20
    )
    evals: dict[str, torch.nn.Module] = {"digital": digital, "analora": analog}
    aihwkit_version = None
    if not args.no_aihwkit and on_cpu:
        try:
            import aihwkit
            from aihwkit.nn.conversion import convert_to_analog

            from analora.hardware.aihwkit_bridge import rpu_config_for

            aihwkit_version = aihwkit.__version__
            rpu = rpu_config_for(hw)
            ref = convert_to_analog(copy.deepcopy(digital), rpu).eval()
            for tile in ref.analog_tiles():
                tile.post_update_step()  # clip and re-map once, as analora maps
            torch.manual_seed(0)
            ref.program_analog_weights()
            ref.drift_analog_weights(3600.0)
            evals["aihwkit"] = ref
            ref_train = convert_to_analog(copy.deepcopy(digital), rpu).train()
            for tile in ref_train.analog_tiles():
                tile.post_update_step()
            for name, p in ref_train.named_parameters():
                if name.endswith("tile.weight"):
                    p.requires_grad_(False)
            trainers["aihwkit"] = ref_train
        except ImportError:
            aihwkit_version = None

    rss["aihwkit_built"] = _peak_rss_MiB()
    from analora import fused

    def unfused(fn: Any) -> Any:
        def run(m: torch.nn.Module) -> None:
            with fused.kernels(False):
                fn(m)

        return run

    eval_fns: dict[str, Any] = {k: lambda m: m(input_ids=ids) for k in evals}
    train_fns: dict[str, Any] = {k: lambda m: _train_step(m, ids) for k in trainers}
    if kernels["available"]:
        evals["analora_unfused"] = analog
        eval_fns["analora_unfused"] = unfused(eval_fns["analora"])
        trainers["analora_unfused"] = trainers["analora"]
        train_fns["analora_unfused"] = unfused(train_fns["analora"])
        converted = copy.deepcopy(digital)
        convert(converted, hw)
        m1, m2 = copy.deepcopy(converted), copy.deepcopy(converted)
        with fused.kernels(False):
            unfused_program_s = _timed(lambda: program(m1, seed=9))
        fused_program_s = _timed(lambda: program(m2, seed=9))
        del converted, m1, m2
    eval_t: dict[str, list[float]] = {k: [] for k in evals}
    train_t: dict[str, list[float]] = {k: [] for k in trainers}
    floor_t: list[float] = []
    with torch.no_grad():
        for k, m in evals.items():
            eval_fns[k](m)  # warm-up
    for k, m in trainers.items():
        train_fns[k](m)
    for _ in range(args.reps):
        with torch.no_grad():
            for k, m in evals.items():
                eval_t[k].append(_timed(lambda k=k, m=m: eval_fns[k](m)))
        if on_cpu:
            floor_t.append(_noise_floor(analog, args.batch * args.seq))
        for k, m in trainers.items():
            train_t[k].append(_timed(lambda k=k, m=m: train_fns[k](m)))

    def ratio(num: list[float], den: list[float]) -> float:
        return statistics.median(a / b for a, b in zip(num, den, strict=True))

    results: dict[str, Any] = {
        "eval_ratio": ratio(eval_t["analora"], eval_t["digital"]),
        "train_ratio": ratio(train_t["analora"], train_t["digital"]),
        "program_s": statistics.median(program_times),
    }
    if floor_t:
        results["eval_noise_floor_ratio"] = ratio(
            [d + f for d, f in zip(eval_t["digital"], floor_t, strict=True)], eval_t["digital"]
        )
    if "analora_unfused" in evals:
        results["eval_ratio_unfused"] = ratio(eval_t["analora_unfused"], eval_t["digital"])
        results["train_ratio_unfused"] = ratio(train_t["analora_unfused"], train_t["digital"])
        results["program_s_unfused_one_run"] = unfused_program_s
        results["program_s_fused_one_run"] = fused_program_s
        results["program_over_digital_eval"] = statistics.median(program_times) / statistics.median(
            eval_t["digital"]
        )
    if "aihwkit" in evals:
        results["vs_aihwkit_eval"] = ratio(eval_t["aihwkit"], eval_t["analora"])
        results["vs_aihwkit_train"] = ratio(train_t["aihwkit"], train_t["analora"])
    record = {
        "results": results,
        "goals": GOALS,
        "seconds": {
            "eval_median": {k: statistics.median(v) for k, v in eval_t.items()},
            "train_step_median": {k: statistics.median(v) for k, v in train_t.items()},
            "output_noise_draw_median": statistics.median(floor_t) if floor_t else None,
            "convert_median": statistics.median(convert_times),
            "program_all": program_times,
            "read_1h": read_s,
        },
        "throughput_tokens_per_s": {
            f"eval_{k}": args.batch * args.seq / statistics.median(v) for k, v in eval_t.items()
        },
        "peak_rss_MiB": _peak_rss_MiB(),
        # Process peak after each stage (cumulative; all models stay alive).
        "peak_rss_MiB_after": rss,
        "chip_state_MiB": chip_state_MiB,
        "settings": {
            "model": "all-MiniLM-L6-v2 (BertForSequenceClassification, 2 labels)",
            "hardware": hw.name,
            "batch": args.batch,
            "seq": args.seq,
            "threads": args.threads,
            "reps": args.reps,
            "chip_age_s": 3600.0,
        },
        "environment": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "aihwkit": aihwkit_version,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "device": str(_DEVICE),
            "load_average": os.getloadavg(),
        },
        "kernels": kernels,
        "command": "./run bench  (python benchmarks/bench_engine.py)",
    }
    # Peak RSS of each system alone, in a fresh process each (MiB): after
    # loading/programming, after one eval forward, after one train step.
    if on_cpu:
        record["peak_rss_MiB_per_system"] = _memory(
            args.batch,
            args.seq,
            ["digital", "analora"] + (["aihwkit"] if "aihwkit" in evals else []),
        )
    else:
        record["goals"] = CUDA_GOALS
        record["peak_rss_MiB_per_system"] = None
    _write(args.out, record, None if on_cpu else _DEVICE.type)
    print(json.dumps(record["results"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
