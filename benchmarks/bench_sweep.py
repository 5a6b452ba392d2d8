"""Sweep benchmark: a 10-chip x 7-age drift sweep against digital passes and the paper's loop.

Workload: the packaged all-MiniLM-L6-v2 as ``BertForSequenceClassification``
(2 labels), SST-2 validation from ``--data-dir``, the first ``--eval-examples``
sentences of the run's subset (seed 0), sequence length 128, 2 threads, one
process. The deployment is made once, untimed, in a temporary directory by
``analora train --method direct`` (nothing is fine-tuned and the head is
random: accuracies are meaningless here, only time counts). Every system
evaluates the same tensors through ``analora.training.methods.
evaluate_classification`` (under ``torch.no_grad``, batches of its default
size, 64, which is what ``run_sweep`` uses).

Timed parts (wall time, ``time.perf_counter``; the process's CPU time,
``time.process_time``, is recorded beside it as ``cpu_seconds``, a second
view when other jobs share the machine, not the headline: threads that
spin while they wait count in it too):

* analora ``run_sweep(deployment, out, SweepConfig(chips, times))``: its wall
  time (``sweep_s_total``) and, from timestamps taken inside it (a wrapper
  around ``runner.load_deployment`` and the progress callback), the one-off
  loading (model load, conversion, tokenisation), the digital reference and
  ``sweep_s_cells``: from the end of the digital reference to the last cell
  (programming every chip, every read and evaluation, the ``cells.json``
  rewrite after each cell). The per-cell and per-chip seconds that
  ``results.json`` records are kept beside it as a cross-check, and each
  cell is split into its chip read (a wrapper around ``Chip.read``) and the
  rest (the evaluation).
* digital: as many passes as the sweep has cells of the plain (unconverted)
  model in eval mode, after one untimed warm-up pass; half of them before the
  sweep and half after, so a change in machine load hits both sides.
  ``digital_s`` is their sum; ``digital_s_total`` adds loading the model and
  tokenising the data.
* paper loop (when aihwkit imports): the evaluation loop of the paper's
  released code, chenlicodebank/lora_on_analog_hardware,
  ``lora_training_glue/run_glue.py`` (also ``lora_training/run_qa.py`` and
  ``hardware_aware_training/run_qa.py``). The model is converted once with
  aihwkit's ``convert_to_analog(model, rpu_config,
  tile_module_class=TorchInferenceTile)`` (the head left digital, as its
  "layer correction" leaves every non-``base_layer`` linear) and its state
  dict saved to ``saved_chkpt.pt``; then ``for drift in [0, 1h, 1d, 1w, 1m,
  1y, 10y]: for i in range(num_evaluation_repetition)`` (10 in its scripts)
  it reloads that file (``model.load_state_dict(torch.load(file),
  load_rpu_config=False)``), calls ``model.eval()`` and
  ``model.drift_analog_weights(drift)`` and runs ``trainer.evaluate``. Here
  each cell is: reload the same way, ``program_analog_weights()`` (a fresh
  chip per repetition, seeded like analora's chips), ``drift_analog_weights(t)``
  and ``evaluate_classification`` (no Trainer overhead, which favours the
  paper loop). The rpu config is ``rpu_config_for(paper-pcm)``. Note: in
  aihwkit 1.1.0 ``load_state_dict`` keeps a tile's ``programmed_weights``, so
  the released loop as written programs only in its first cell and later
  "repetitions" redraw drift and read noise on that one chip; the explicit
  programming makes each cell a new chip, as the paper's statistics assume.
  ``released_as_written_s`` (the loop less all programmings but one) is
  recorded beside it, and ``reload_keeps_programming`` records the check.
  ``--paper-chips K`` runs K of the chips at every age and scales the loop to
  the full grid (marked ``extrapolated``).

Results:

* ``sweep_ratio`` (headline): ``sweep_s_cells / digital_s``, loading excluded
  on both sides (goal <= 1.3). ``sweep_ratio_total``: ``sweep_s_total /
  digital_s_total``, loading included on both sides.
* ``vs_paper_loop``: paper loop time over the grid / ``sweep_s_cells``.

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (writes
benchmarks/results/sweep.json; about 15 minutes on 2 cores); ``--quick`` (2
chips x 2 ages, 32 sentences, writes /tmp/sweep_quick.json) for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from _common import environment, goal, write_json

RESULTS = Path(__file__).parent / "results" / "sweep.json"
QUICK_RESULTS = Path("/tmp/sweep_quick.json")
DATA_DIR = Path("/work/shared/data")
TASK = "sst2"
HEAD = "classifier"
HARDWARE = "paper-pcm"
MAX_LENGTH = 128
DATA_SEED = 0
GOALS = {"sweep_ratio": ("<=", 1.3)}


Stamp = tuple[float, float]
"""(wall ``perf_counter``, this process's CPU ``process_time``) seconds."""


def _now() -> Stamp:
    return time.perf_counter(), time.process_time()


def _since(a: Stamp, b: Stamp) -> Stamp:
    return b[0] - a[0], b[1] - a[1]


class SweepClock:
    """Stamps taken inside ``run_sweep``: deployment loaded, digital
    reference evaluated, each cell finished (from the progress callback),
    and the wall seconds of every chip read (drift, read noise, drift
    compensation) apart from the evaluation that follows it."""

    def __init__(self) -> None:
        self.loaded: Stamp | None = None
        self.reference_done: Stamp | None = None
        self.cells: list[Stamp] = []
        self.reads: list[float] = []

    def progress(self, _: dict[str, Any]) -> None:
        self.cells.append(_now())


@contextlib.contextmanager
def _clocked_sweep(clock: SweepClock) -> Iterator[None]:
    """Wrap ``runner.load_deployment`` (looked up at call time by
    ``run_sweep``) to stamp the end of loading and of the digital reference."""
    from analora.sweep import runner

    original = runner.load_deployment

    def load(*args: Any, **kwargs: Any) -> Any:
        deployed = original(*args, **kwargs)
        clock.loaded = _now()
        reference = deployed.digital_reference

        def stamped_reference() -> dict[str, float]:
            metrics = reference()
            clock.reference_done = _now()
            return metrics

        deployed.digital_reference = stamped_reference
        program = deployed.chip

        def chip_with_timed_reads(seed: int) -> Any:
            chip = program(seed)
            read = chip.read

            def timed_read(*read_args: Any, **read_kwargs: Any) -> Any:
                t0 = time.perf_counter()
                out = read(*read_args, **read_kwargs)
                clock.reads.append(time.perf_counter() - t0)
                return out

            chip.read = timed_read
            return chip

        deployed.chip = chip_with_timed_reads
        return deployed

    runner.load_deployment = load
    try:
        yield
    finally:
        runner.load_deployment = original


def _make_deployment(out: Path, data_dir: Path, eval_examples: int) -> float:
    """The ``direct`` deployment of the pretrained MiniLM into ``out``; its seconds."""
    from analora.workflows import RunSpec, train_run

    spec = RunSpec(
        method="direct",
        model="minilm",
        task=TASK,
        max_eval_examples=eval_examples,
        max_length=MAX_LENGTH,
        pooling="cls",
    )
    start = time.perf_counter()
    train_run(spec, out, data_dir=data_dir)
    return time.perf_counter() - start


def _load_digital(model_dir: Path) -> torch.nn.Module:
    from analora.models import load_model

    torch.manual_seed(0)
    return load_model(str(model_dir), "sequence-classification", num_labels=2).eval()


def _eval_batch_size() -> int:
    from analora.training.methods import evaluate_classification

    return int(inspect.signature(evaluate_classification).parameters["batch_size"].default)


def _first_batch(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = _eval_batch_size()
    return {k: v[:n] for k, v in tensors.items()}


def _evaluate(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, float]:
    from analora.training.methods import evaluate_classification

    with torch.no_grad():
        return evaluate_classification(model, TASK, tensors)


def _timed_passes(
    model: torch.nn.Module, tensors: dict[str, torch.Tensor], n: int
) -> tuple[list[float], float]:
    """Wall seconds of each of ``n`` passes, and their CPU seconds in all."""
    times = []
    cpu_start = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        _evaluate(model, tensors)
        times.append(time.perf_counter() - start)
    return times, time.process_time() - cpu_start


def _paper_loop(
    model_dir: Path,
    tensors: dict[str, torch.Tensor],
    times_s: tuple[float, ...],
    chip_seeds: list[int],
    workdir: Path,
) -> dict[str, Any]:
    """The released evaluation loop (see the module docstring) over
    ``times_s`` x ``chip_seeds``, drift-major as released."""
    from aihwkit.nn import AnalogLinear
    from aihwkit.nn.conversion import convert_to_analog
    from aihwkit.simulator.tiles.inference_torch import TorchInferenceTile

    from analora import load_hardware
    from analora.hardware.aihwkit_bridge import rpu_config_for

    start = time.perf_counter()
    model = _load_digital(model_dir)
    analog = convert_to_analog(
        model,
        rpu_config_for(load_hardware(HARDWARE)),
        tile_module_class=TorchInferenceTile,
        exclude_modules=[HEAD],
    )
    for tile in analog.analog_tiles():
        tile.post_update_step()  # clip and re-map, as every training step of AnalogAdam does
    checkpoint = workdir / "saved_chkpt.pt"
    torch.save(analog.state_dict(), checkpoint)
    setup_s = time.perf_counter() - start
    analog_layers = sum(1 for m in analog.modules() if isinstance(m, AnalogLinear))
    _evaluate(analog.eval(), _first_batch(tensors))  # warm-up, unprogrammed

    parts: dict[str, list[float]] = {"reload": [], "program": [], "drift": [], "evaluate": []}
    cells: list[float] = []
    metrics: list[float] = []
    keeps_programming: list[bool] = []
    loop_start = _now()
    for t_s in times_s:
        for seed in chip_seeds:
            c0 = time.perf_counter()
            # The released code's torch.load predates weights_only=True; the
            # file holds aihwkit rpu configs, so it needs the full unpickler.
            state = torch.load(checkpoint, weights_only=False)
            analog.load_state_dict(state, load_rpu_config=False)
            analog.eval()
            c1 = time.perf_counter()
            if cells:
                keeps_programming.append(
                    all(tile.programmed_weights is not None for tile in analog.analog_tiles())
                )
            torch.manual_seed(seed)
            analog.program_analog_weights()
            c2 = time.perf_counter()
            analog.drift_analog_weights(t_s)
            c3 = time.perf_counter()
            result = _evaluate(analog, tensors)
            c4 = time.perf_counter()
            for key, a, b in (
                ("reload", c0, c1),
                ("program", c1, c2),
                ("drift", c2, c3),
                ("evaluate", c3, c4),
            ):
                parts[key].append(b - a)
            cells.append(c4 - c0)
            metrics.append(result["accuracy"])
    loop_s, loop_cpu_s = _since(loop_start, _now())
    return {
        "setup_s": setup_s,
        "loop_s": loop_s,
        "loop_cpu_s": loop_cpu_s,
        "cells": len(cells),
        "cell_s": cells,
        "parts_s": parts,
        "analog_layers": analog_layers,
        "accuracy_mean": statistics.fmean(metrics),
        "reload_keeps_programming": all(keeps_programming) if keeps_programming else None,
        # The loop as written programs in its first cell only (see the docstring).
        "unprogrammed_loop_s": loop_s - sum(parts["program"]),
        "first_program_s": parts["program"][0],
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    from analora.sweep.results import DEFAULT_TIMES_S

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=10)
    parser.add_argument("--times", type=float, nargs="+", default=list(DEFAULT_TIMES_S))
    parser.add_argument("--eval-examples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--paper-chips",
        type=int,
        default=None,
        help="run the paper loop on this many chips at every age and scale it to the grid",
    )
    parser.add_argument("--no-aihwkit", action="store_true", help="skip the paper loop")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 chips x 2 ages, 32 sentences"
    )
    args = parser.parse_args(argv)
    if args.paper_chips is not None and args.paper_chips < 1:
        parser.error(f"--paper-chips {args.paper_chips} is invalid: give an integer >= 1")
    if args.quick:
        args.chips, args.times, args.eval_examples = 2, [0.0, 3600.0], 32
    out_path = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import transformers

    from analora.sweep.runner import SweepConfig, run_sweep
    from analora.training.data import task_inputs

    transformers.logging.set_verbosity_error()
    config = SweepConfig(chips=args.chips, times_s=tuple(args.times))
    n_cells = config.chips * len(config.times_s)
    paper_chips = min(args.paper_chips or config.chips, config.chips)

    aihwkit_version: str | None = None
    paper_skipped: str | None = None
    if args.no_aihwkit:
        paper_skipped = "--no-aihwkit"
    else:
        try:
            import aihwkit

            aihwkit_version = aihwkit.__version__
        except ImportError as exc:
            paper_skipped = f"aihwkit does not import ({exc.__class__.__name__}: {exc})"

    load: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        work = Path(tmp)
        deployment = work / "direct"
        deploy_s = _make_deployment(deployment, args.data_dir, args.eval_examples)
        model_dir = deployment / "model"

        # Digital side: loading, then half the passes before the sweep.
        t0 = time.perf_counter()
        digital = _load_digital(model_dir)
        t1 = time.perf_counter()
        tensors = task_inputs(
            TASK,
            str(model_dir),
            data_dir=args.data_dir,
            max_eval_examples=args.eval_examples,
            max_length=MAX_LENGTH,
            seed=DATA_SEED,
            with_train=False,
        ).evaluation
        t2 = time.perf_counter()
        digital_load_s, tokenise_s = t1 - t0, t2 - t1
        _evaluate(digital, _first_batch(tensors))  # warm-up
        load["digital_before"] = os.getloadavg()
        digital_passes, digital_cpu_s = _timed_passes(digital, tensors, (n_cells + 1) // 2)
        digital_accuracy = _evaluate(digital, tensors)["accuracy"]

        # analora sweep.
        clock = SweepClock()
        load["sweep_before"] = os.getloadavg()
        with _clocked_sweep(clock):
            start = _now()
            results = run_sweep(
                deployment,
                work / "sweep",
                config,
                data_dir=args.data_dir,
                max_eval_examples=args.eval_examples,
                progress=clock.progress,
            )
            end = _now()
        load["sweep_after"] = os.getloadavg()
        if (
            clock.loaded is None
            or clock.reference_done is None
            or len(clock.cells) != n_cells
            or len(clock.reads) != n_cells
        ):
            raise RuntimeError("the sweep did not report loading, reference and every cell")

        passes, cpu_s = _timed_passes(digital, tensors, n_cells // 2)
        digital_passes, digital_cpu_s = digital_passes + passes, digital_cpu_s + cpu_s
        load["digital_after"] = os.getloadavg()
        del digital

        paper: dict[str, Any] | None = None
        if paper_skipped is None:
            paper = _paper_loop(
                model_dir, tensors, config.times_s, config.chip_seeds[:paper_chips], work
            )
            load["paper_after"] = os.getloadavg()

    sweep_s_total, sweep_cpu_s_total = _since(start, end)
    sweep_s_cells, sweep_cpu_s_cells = _since(clock.reference_done, clock.cells[-1])
    timings = results["timings"]
    cell_s = list(timings["cells"].values())
    program_s = list(timings["program_s"].values())
    digital_s = sum(digital_passes)
    digital_s_total = digital_load_s + tokenise_s + digital_s
    sweep_ratio = sweep_s_cells / digital_s
    sweep_ratio_total = sweep_s_total / digital_s_total

    vs_paper: float | None = None
    paper_record: dict[str, Any] = {"skipped": paper_skipped}
    if paper is not None:
        scale = n_cells / paper["cells"]
        paper_loop_s = paper["loop_s"] * scale
        vs_paper = paper_loop_s / sweep_s_cells
        paper_record = {
            "skipped": None,
            "loop_s": paper_loop_s,
            "measured_loop_s": paper["loop_s"],
            "measured_loop_cpu_s": paper["loop_cpu_s"],
            "measured_cells": paper["cells"],
            "extrapolated": scale != 1.0,
            "setup_s": paper["setup_s"],
            "released_as_written_s": paper["unprogrammed_loop_s"] * scale
            + paper["first_program_s"],
            "reload_keeps_programming": paper["reload_keeps_programming"],
            "analog_layers": paper["analog_layers"],
            "cell_median_s": _median(paper["cell_s"]),
            "parts_median_s": {k: _median(v) for k, v in paper["parts_s"].items()},
            "cell_s": paper["cell_s"],
            "accuracy_mean": paper["accuracy_mean"],
            "route": (
                "per cell: torch.load(saved_chkpt.pt) + load_state_dict(load_rpu_config=False), "
                "eval(), torch.manual_seed(chip seed) + program_analog_weights(), "
                "drift_analog_weights(t), evaluate_classification; aihwkit convert_to_analog("
                "tile_module_class=TorchInferenceTile, head digital) once, untimed in the loop "
                "(setup_s); rpu_config_for(paper-pcm)"
            ),
            "source": (
                "github.com/chenlicodebank/lora_on_analog_hardware, lora_training_glue/"
                "run_glue.py (evaluation loop over all_drift_values x "
                "num_evaluation_repetition)"
            ),
        }

    results_out: dict[str, Any] = {
        "sweep_ratio": sweep_ratio,
        "sweep_ratio_total": sweep_ratio_total,
        "vs_paper_loop": vs_paper,
    }
    record: dict[str, Any] = {
        "results": results_out,
        "headline": (
            "sweep_ratio: cells only (programming, reads, evaluations) over the digital passes "
            "alone; one-off loading is excluded on both sides"
        ),
        "goals": {k: goal(results_out[k], g) for k, g in GOALS.items()},
        "seconds": {
            "sweep_s_total": sweep_s_total,
            "sweep_s_cells": sweep_s_cells,
            "sweep_load_s": clock.loaded[0] - start[0],
            "sweep_digital_reference_s": clock.reference_done[0] - clock.loaded[0],
            "sweep_finish_s": end[0] - clock.cells[-1][0],
            "sweep_recorded": {
                "cells_sum": sum(cell_s),
                "program_sum": sum(program_s),
                "digital_reference": timings.get("digital_s"),
                "this_run": timings.get("this_run_s"),
            },
            "digital_s": digital_s,
            "digital_s_total": digital_s_total,
            "digital_load_s": digital_load_s,
            "tokenise_s": tokenise_s,
            "deployment_s": deploy_s,
        },
        # CPU seconds of this process (all its threads): a second view when
        # other jobs share the machine; not the headline.
        "cpu_seconds": {
            "sweep_total": sweep_cpu_s_total,
            "sweep_cells": sweep_cpu_s_cells,
            "digital_passes": digital_cpu_s,
            "paper_loop": paper["loop_cpu_s"] * n_cells / paper["cells"] if paper else None,
        },
        "median_s": {
            "sweep_cell": _median(cell_s),
            "sweep_cell_read": _median(clock.reads),
            # A cell less its read: the evaluation and the cells.json rewrite.
            "sweep_cell_evaluate": _median(
                [c - r for c, r in zip(cell_s, clock.reads, strict=True)]
            ),
            "sweep_program_chip": _median(program_s),
            "digital_pass": _median(digital_passes),
        },
        "other_ratios": {
            # Read + evaluate of one cell / one digital pass, programming aside.
            "sweep_cell_vs_digital_pass_median": _median(cell_s) / _median(digital_passes),
            "sweep_ratio_cpu": sweep_cpu_s_cells / digital_cpu_s,
            "vs_paper_loop_cpu": (
                paper["loop_cpu_s"] * n_cells / paper["cells"] / sweep_cpu_s_cells
                if paper is not None
                else None
            ),
            # Both with their one-off work: the paper's setup (load, convert,
            # save) and tokenisation against the whole run_sweep call.
            "vs_paper_loop_total": (
                (paper_record["loop_s"] + paper_record["setup_s"] + tokenise_s) / sweep_s_total
                if paper is not None
                else None
            ),
        },
        "digital_pass_s": digital_passes,
        "paper_loop": paper_record,
        "accuracy": {
            "note": "direct deployment of an untrained head: a sanity check only",
            "digital": digital_accuracy,
            "sweep_digital_reference": results["digital"].get("accuracy"),
            "sweep_cells_mean": statistics.fmean(
                c["metrics"]["accuracy"] for c in results["cells"]
            ),
        },
        "settings": {
            "model": "all-MiniLM-L6-v2 (BertForSequenceClassification, 2 labels)",
            "method": "direct",
            "task": TASK,
            "hardware": HARDWARE,
            "chips": config.chips,
            "chip_seeds": config.chip_seeds,
            "times_s": list(config.times_s),
            "cells": n_cells,
            "paper_chips": paper_chips if paper is not None else None,
            "eval_examples": len(tensors["labels"]),
            "eval_batch": _eval_batch_size(),
            "seq": MAX_LENGTH,
            "data_seed": DATA_SEED,
            "threads": args.threads,
            "quick": args.quick,
        },
        "environment": {**environment(), "aihwkit": aihwkit_version},
        # 1/5/15-minute load averages around each phase (other jobs on the
        # machine inflate times unevenly; the machine has cpu_count cores).
        "load_average": load,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_sweep.py " + " ".join(sys.argv[1:]),
    }
    write_json(out_path, record)
    print(json.dumps({"results": results_out, "goals": record["goals"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
