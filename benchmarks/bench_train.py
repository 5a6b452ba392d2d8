"""Training benchmark: one AHWA-LoRA step against digital LoRA and the paper's code.

Workload: the packaged all-MiniLM-L6-v2 (22.7M parameters) as
``BertForSequenceClassification`` with 2 labels, batch 32 x sequence 128
(random token ids and 0/1 labels, seed 0), 2 threads, one process. A step is
``zero_grad``, forward with labels (the loss), backward, ``clip_grad_norm_``
1.0 over the trainable parameters, optimiser step. Every system is warmed up
with 2 steps; each repetition then times one step of every system back to
back (the order rotates from one repetition to the next), so machine noise
hits all of them alike; reported ratios are medians of per-repetition ratios.

Systems (LoRA r 8, alpha 32, dropout 0.1 on every linear layer but the head,
a digital head ``classifier`` trained in full, as
``analora.training.methods.train_adapter`` builds them):

* ``digital-lora``: peft ``get_peft_model`` on the digital model, AdamW.
* ``ahwa-lora``: analora, ``paper-pcm``: the model programmed once
  (``program(..., exclude=["classifier"])``), LoRA through
  ``analora.adapters.add_lora``, training on the target weights with fresh
  weight noise, DAC/ADC, output noise (``chip.use_target()``), AdamW.
* ``paper-code``: the route of the paper's released code
  (chenlicodebank/lora_on_analog_hardware, ``lora_training_glue/run_glue.py``):
  peft LoRA on the *digital* model first, then aihwkit's
  ``convert_to_analog(peft_model, rpu_config, tile_module_class=
  TorchInferenceTile)`` over the whole peft model. The released code converts
  every linear (LoRA ``lora_A``/``lora_B`` and the head too) and then puts the
  digital module back for every analog layer whose name lacks ``base_layer``
  ("layer correction"); here the same end state is reached with
  ``convert_to_analog(exclude_modules=...)`` (checked: the analog layers are
  exactly the 37 ``base_layer`` linears). Then every parameter of every
  ``AnalogLinear`` (tile weights, digital bias, learned out-scales) is frozen
  and the optimiser is aihwkit's ``AnalogAdam`` over ``model.parameters()``
  (all of them, as released; lr 2e-4), whose step also runs every tile's
  ``post_update_step`` (re-clip 3 sigma and re-map), frozen tiles included.
  ``tile_module_class=TorchInferenceTile`` as in the released code means one
  tile per layer however large (no 512 x 512 split). The rpu config is
  ``analora.hardware.aihwkit_bridge.rpu_config_for(paper-pcm)``, the same
  settings as the released ``gen_rpu_config`` (8-bit DAC/ADC, output noise
  0.04, ADD_NORMAL weight noise 0.067, 3-sigma LAYER_GAUSSIAN clip,
  channel-wise symmetric remap, learned column-wise out-scaling, PCM g_max
  25 uS). Two deliberate differences from the released script: its
  ``LoraConfig`` targets ``dense/query/key/value/...`` and has no
  ``modules_to_save`` (its head stays frozen); here it is the same
  ``LoraConfig`` as ``digital-lora``, so the three systems train the same
  parameters. Its Hugging Face ``Trainer`` clips at 1.0 as here.

Results:

* ``step_ratio``: ahwa-lora step / digital-lora step (goal <= 1.25).
* ``memory_ratio``: peak RSS of ahwa-lora training / peak RSS of digital-lora
  training, each system alone in a fresh process (load, build, 3 steps;
  goal <= 1.1). The increase over the loaded model is recorded beside it.
* ``vs_paper_code``: paper-code step / ahwa-lora step (goal >= 1.5), only
  where aihwkit imports.

Also recorded: median and fastest step seconds and tokens/s per system, the
ratios of the fastest steps (less sensitive to other jobs on a shared
machine), trainable parameters, whether each system trains (finite losses,
finite gradients, non-zero LoRA gradients), that analora's chip fingerprint
did not change, how far the paper route's optimiser moved its frozen analog
weights, the load average around the timed steps, versions and date.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (writes
benchmarks/results/train.json); ``--quick --out /tmp/t.json`` for a smoke run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from _common import environment, goal, peak_mib, timed, write_json

RESULTS = Path(__file__).parent / "results" / "train.json"
HEAD = "classifier"
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 32, 0.1  # the paper's adapter
LR = 2e-4  # the paper's AHWA-LoRA learning rate
GOALS = {"step_ratio": ("<=", 1.25), "memory_ratio": ("<=", 1.1), "vs_paper_code": (">=", 1.5)}
SYSTEMS = ("digital-lora", "ahwa-lora", "paper-code")


class System:
    """A model in training mode, its optimiser and what to check on it."""

    def __init__(self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.name = name
        self.model = model
        self.optimizer = optimizer
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.losses: list[float] = []
        self.chip: Any = None  # analora's chip (ahwa-lora)
        self.chip_fingerprint: str | None = None  # at build time, before any step
        self.frozen_analog: dict[str, torch.Tensor] = {}  # paper-code: effective weights

    def step(self, batch: dict[str, torch.Tensor]) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(**batch).loss
        loss.backward()
        nn.utils.clip_grad_norm_(self.trainable, 1.0)
        self.optimizer.step()
        self.losses.append(float(loss.detach()))


def _load_minilm() -> nn.Module:
    import transformers
    from transformers import BertForSequenceClassification

    from analora.models import alias_path

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)  # the head's initialisation
    return BertForSequenceClassification.from_pretrained(str(alias_path("minilm")), num_labels=2)


def _batch(batch: int, seq: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(1000, 20000, (batch, seq), generator=gen),
        "labels": torch.randint(0, 2, (batch,), generator=gen),
    }


def _digital_lora_config(model: nn.Module) -> Any:
    """The peft config of ``train_adapter``'s digital-lora: every mappable
    linear but the head, the head trained in full."""
    from peft import LoraConfig

    from analora.adapters import select_targets
    from analora.analog.convert import mappable_layers

    names = [n for n, _ in mappable_layers(model, exclude=[HEAD])]
    return LoraConfig(
        r=LORA_R,
        lora_alpha=LORA_ALPHA,
        lora_dropout=LORA_DROPOUT,
        target_modules=select_targets(names, "all"),
        modules_to_save=[HEAD],
    )


def _adamw(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)


def _build(name: str, model: nn.Module) -> System:
    """Build one system around a freshly loaded MiniLM, in training mode."""
    torch.manual_seed(0)  # adapter initialisation
    if name == "digital-lora":
        from peft import get_peft_model

        peft_model = get_peft_model(model, _digital_lora_config(model)).train()
        return System(name, peft_model, _adamw(peft_model))
    if name == "ahwa-lora":
        import analora
        from analora.adapters import add_lora

        chip = analora.program(model, analora.load_hardware("paper-pcm"), seed=0, exclude=[HEAD])
        peft_model = add_lora(
            model,
            r=LORA_R,
            alpha=LORA_ALPHA,
            dropout=LORA_DROPOUT,
            targets="all",
            head=[HEAD],
        )
        chip.use_target()  # training noise on the target weights
        system = System(name, peft_model.train(), _adamw(peft_model))
        system.chip = chip
        system.chip_fingerprint = chip.fingerprint()
        return system
    if name == "paper-code":
        return _build_paper_code(model)
    raise ValueError(f"unknown system {name!r}: one of {', '.join(SYSTEMS)}")


def _build_paper_code(model: nn.Module) -> System:
    """The released code's route (see the module docstring)."""
    from aihwkit.nn import AnalogLinear
    from aihwkit.nn.conversion import convert_to_analog
    from aihwkit.optim import AnalogAdam
    from aihwkit.simulator.tiles.inference_torch import TorchInferenceTile
    from peft import get_peft_model

    import analora
    from analora.hardware.aihwkit_bridge import rpu_config_for

    peft_model = get_peft_model(model, _digital_lora_config(model))
    # The released code converts all linears, then restores the digital module
    # of every analog layer without "base_layer" in its name; excluding them
    # from the conversion gives the same model.
    keep_digital = [
        n
        for n, m in peft_model.named_modules()
        if isinstance(m, nn.Linear) and "base_layer" not in n
    ]
    analog = convert_to_analog(
        peft_model,
        rpu_config_for(analora.load_hardware("paper-pcm")),
        tile_module_class=TorchInferenceTile,
        exclude_modules=keep_digital,
    )
    analog_layers = {n: m for n, m in analog.named_modules() if isinstance(m, AnalogLinear)}
    expected = {
        n
        for n, m in peft_model.named_modules()
        if isinstance(m, nn.Linear) and n.endswith("base_layer")
    }
    if set(analog_layers) != expected:
        raise RuntimeError("paper-code: the analog layers are not exactly the LoRA base layers")
    for layer in analog_layers.values():
        for p in layer.parameters():
            p.requires_grad = False
    system = System("paper-code", analog.train(), AnalogAdam(analog.parameters(), lr=LR))
    system.frozen_analog = _effective_weights(analog_layers)
    return system


def _effective_weights(layers: dict[str, Any]) -> dict[str, torch.Tensor]:
    """aihwkit layers' weights in digital units (tile weights x out-scales)."""
    return {n: m.get_weights()[0].detach().clone() for n, m in layers.items()}


def _checks(system: System) -> dict[str, Any]:
    """Does it train? Finite losses, every trainable tensor with a finite
    gradient, LoRA tensors with non-zero gradients (after the last step), and
    whether the frozen analog weights stayed put."""
    grads = [p.grad for p in system.trainable]
    lora_nonzero = [
        bool(p.grad is not None and p.grad.abs().sum() > 0)
        for n, p in system.model.named_parameters()
        if p.requires_grad and ".lora_" in n
    ]
    out: dict[str, Any] = {
        "loss_first": system.losses[0],
        "loss_last": system.losses[-1],
        "losses_finite": all(math.isfinite(v) for v in system.losses),
        "trainable_tensors": len(grads),
        "trainable_tensors_with_finite_grad": sum(
            1 for g in grads if g is not None and bool(torch.isfinite(g).all())
        ),
        "lora_tensors": len(lora_nonzero),
        "lora_tensors_with_nonzero_grad": sum(lora_nonzero),
    }
    out["trains"] = bool(
        out["losses_finite"]
        and out["trainable_tensors_with_finite_grad"] == len(grads)
        and lora_nonzero
        and all(lora_nonzero)
    )
    if system.chip is not None:
        out["chip_fingerprint_unchanged"] = system.chip.fingerprint() == system.chip_fingerprint
    if system.frozen_analog:
        from aihwkit.nn import AnalogLinear

        now = _effective_weights(
            {n: m for n, m in system.model.named_modules() if isinstance(m, AnalogLinear)}
        )
        rel = [float((now[n] - w).norm() / w.norm()) for n, w in system.frozen_analog.items()]
        # The released optimiser re-clips and re-maps every tile after each
        # step, the frozen ones too.
        out["frozen_analog_weights_rel_change_mean"] = statistics.fmean(rel)
        out["frozen_analog_weights_rel_change_max"] = max(rel)
    return out


def _memory_child(name: str, batch: int, seq: int, steps: int) -> None:
    """In a fresh process: peak RSS (MiB) after loading MiniLM, after building
    the system and after ``steps`` training steps, printed as JSON."""
    model = _load_minilm()  # the baseline: torch, transformers and the model
    loaded = peak_mib()
    system = _build(name, model)
    built = peak_mib()
    data = _batch(batch, seq)
    for _ in range(steps):
        system.step(data)
    print(json.dumps({"loaded": loaded, "built": built, "train": peak_mib()}))


def _memory(systems: list[str], batch: int, seq: int, steps: int, threads: int) -> dict[str, Any]:
    out = {}
    for name in systems:
        cmd = [sys.executable, __file__, "--memory-child", name, "--threads", str(threads)]
        cmd += ["--batch", str(batch), "--seq", str(seq), "--memory-steps", str(steps)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 reps, 1 warm-up")
    parser.add_argument("--no-aihwkit", action="store_true", help="skip the paper's route")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        _memory_child(args.memory_child, args.batch, args.seq, args.memory_steps)
        return 0
    if args.quick:
        args.reps, args.warmup, args.memory_steps = 2, 1, 1

    aihwkit_version: str | None = None
    paper_code_skipped: str | None = None
    if args.no_aihwkit:
        paper_code_skipped = "--no-aihwkit"
    else:
        try:
            import aihwkit

            aihwkit_version = aihwkit.__version__
        except ImportError as exc:
            paper_code_skipped = f"aihwkit does not import ({exc.__class__.__name__}: {exc})"
    names = [n for n in SYSTEMS if n != "paper-code" or paper_code_skipped is None]

    data = _batch(args.batch, args.seq)
    systems: dict[str, System] = {}
    build_s: dict[str, float] = {}
    for name in names:
        model = _load_minilm()
        start = time.perf_counter()
        systems[name] = _build(name, model)
        build_s[name] = time.perf_counter() - start
    for system in systems.values():
        for _ in range(args.warmup):
            system.step(data)

    load_before = os.getloadavg()
    step_t: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            step_t[name].append(timed(lambda s=systems[name]: s.step(data)))

    def ratio(num: str, den: str) -> float:
        return statistics.median(a / b for a, b in zip(step_t[num], step_t[den], strict=True))

    load_after = os.getloadavg()

    def min_ratio(num: str, den: str) -> float:
        return min(step_t[num]) / min(step_t[den])

    checks = {n: _checks(s) for n, s in systems.items()}
    memory = _memory(names, args.batch, args.seq, args.memory_steps, args.threads)
    tokens = args.batch * args.seq
    step_ratio = ratio("ahwa-lora", "digital-lora")
    vs_paper = ratio("paper-code", "ahwa-lora") if "paper-code" in step_t else None
    mem = {n: memory[n]["train"] for n in names}
    memory_ratio = mem["ahwa-lora"] / mem["digital-lora"]
    increase = {n: memory[n]["train"] - memory[n]["loaded"] for n in names}
    results: dict[str, Any] = {
        "step_ratio": step_ratio,
        "memory_ratio": memory_ratio,
        "vs_paper_code": vs_paper,
    }
    record: dict[str, Any] = {
        "results": results,
        "goals": {k: goal(results[k], g) for k, g in GOALS.items()},
        "seconds": {
            "step_median": {n: statistics.median(v) for n, v in step_t.items()},
            "step_min": {n: min(v) for n, v in step_t.items()},
            "step_all": step_t,
            "build": build_s,
        },
        "throughput_tokens_per_s": {n: tokens / statistics.median(v) for n, v in step_t.items()},
        "other_ratios": {
            "paper_code_vs_digital_lora": (
                ratio("paper-code", "digital-lora") if "paper-code" in step_t else None
            ),
            # Ratios of each system's fastest step: less sensitive to other
            # jobs on a shared machine than the medians, but not the headline.
            "fastest_step_ratio": min_ratio("ahwa-lora", "digital-lora"),
            "fastest_vs_paper_code": (
                min_ratio("paper-code", "ahwa-lora") if "paper-code" in step_t else None
            ),
        },
        "trainable_parameters": {
            n: sum(p.numel() for p in s.trainable) for n, s in systems.items()
        },
        "checks": checks,
        "memory": {
            "what": (
                "peak RSS (VmHWM, MiB) of each system alone in a fresh process: after loading "
                "MiniLM (baseline), after building the system, after training steps; "
                "memory_ratio = ahwa-lora train peak / digital-lora train peak"
            ),
            "steps": args.memory_steps,
            "peak_rss_MiB": memory,
            "increase_over_loaded_MiB": increase,
            "increase_over_loaded_ratio_ahwa_vs_digital": (
                increase["ahwa-lora"] / increase["digital-lora"]
            ),
            "paper_code_vs_ahwa_lora_peak_ratio": (
                mem["paper-code"] / mem["ahwa-lora"] if "paper-code" in mem else None
            ),
        },
        "paper_code": {
            "route": (
                "peft LoRA on the digital model (same LoraConfig as digital-lora); aihwkit "
                "convert_to_analog(tile_module_class=TorchInferenceTile) of the LoRA base "
                "layers only (LoRA A/B and head digital, as the released code's layer "
                "correction leaves them); every AnalogLinear parameter frozen; "
                "AnalogAdam(model.parameters(), lr 2e-4); rpu config rpu_config_for(paper-pcm)"
            ),
            "source": (
                "github.com/chenlicodebank/lora_on_analog_hardware, "
                "lora_training_glue/run_glue.py and related_functions.py"
            ),
            "skipped": paper_code_skipped,
        },
        "settings": {
            "model": "all-MiniLM-L6-v2 (BertForSequenceClassification, 2 labels)",
            "hardware": "paper-pcm",
            "batch": args.batch,
            "seq": args.seq,
            "threads": args.threads,
            "reps": args.reps,
            "warmup_steps": args.warmup,
            "quick": args.quick,
            "lora": {"r": LORA_R, "alpha": LORA_ALPHA, "dropout": LORA_DROPOUT},
            "lr": LR,
            "grad_clip": 1.0,
            "seeds": {"data": 0, "model_head": 0, "adapters": 0, "chip": 0},
        },
        "environment": {**environment(), "aihwkit": aihwkit_version},
        # 1/5/15-minute load averages around the timed steps (other jobs on the
        # machine inflate step times unevenly; the machine has cpu_count cores).
        "load_average": {"before": load_before, "after": load_after},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_train.py " + " ".join(sys.argv[1:]),
    }
    write_json(args.out, record)
    print(json.dumps({"results": results, "goals": record["goals"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
