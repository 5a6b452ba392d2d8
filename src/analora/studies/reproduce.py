"""``analora study reproduce``: the paper's claims on the tasks we have.

For each task (CoLA, SST-2, MRPC, RTE, STS-B, WNLI; SQuAD-devsplit on
request), every method trains with the task's recipe
(:mod:`analora.training.recipes`) on the packaged MiniLM:

* ``digital`` (every weight) and ``digital-lora`` (the same adapters as
  ``ahwa-lora``, no hardware): the floating-point references;
* ``direct`` (the ``digital`` model programmed as it is) and ``ahwa`` (full
  hardware-aware training from it);
* ``ahwa-lora`` (the paper): the pretrained weights programmed once;
* ``chip-lora``: the ``ahwa-lora`` adapter fine-tuned against each sweep
  chip in turn (one adapter per chip, bound to it).

Then every analog method is swept on the same chip seeds at the same ages
(so differences between methods are paired by chip), the classification
adapters are served together from one chip in mixed batches (the bank), the
8- to 6-bit re-adaptation is redone on the SST-2 adapter, a rank
ablation trains ``ahwa-lora`` at r = 2, 4, 8, 16 on two tasks, and the
memory stage measures each training method's peak memory on one task
(:mod:`analora.workflows.memory`). ``chip-lora`` is swept with read index
:data:`CHIP_LORA_READ_INDEX`, not the read its adapter trained on. The report
stage turns the result files into ``docs/results`` (tables, plots,
``summary.json``) and RESULTS.md (:mod:`analora.studies.analysis`).

Tasks run one after another (train, then sweep), so every finished task is
a result; then the bank, re-adaptation, rank and memory stages, then the report.
Everything skips what is done; ``stages`` picks some.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import update_json
from analora.studies.common import data_dir, say, sweep_step, train_step
from analora.sweep.runner import BOUND_READ_INDEX

TASKS = ("sst2", "cola", "mrpc", "rte", "stsb", "wnli")
METHODS = ("digital", "digital-lora", "direct", "ahwa", "ahwa-lora", "chip-lora")
STAGES = ("train", "sweep", "bank", "readapt", "rank", "memory", "report")
"""Per task (one task after another): train, sweep; then across tasks: the
bank, the re-adaptation, the rank ablation, the training memory of each
method, and the report."""


@dataclass(frozen=True)
class ReproduceSizes:
    """The study's sizes. ``None`` for the examples means the full split;
    training settings the runs leave out come from the task's recipe."""

    tasks: tuple[str, ...] = TASKS
    methods: tuple[str, ...] = METHODS
    chips: int = 5
    first_chip_seed: int = 1000
    times: tuple[str, ...] = ("0", "1h", "1d", "1w", "30d", "1y", "10y")
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    max_length: int | None = None
    epochs: int | None = None
    chip_lora_examples: int = 2000
    chip_lora_epochs: int = 1
    chip_lora_lr: float = 5e-4
    ranks: tuple[int, ...] = (2, 4, 8, 16)
    rank_tasks: tuple[str, ...] = ("sst2", "rte")
    readapt_task: str = "sst2"
    readapt_epochs: int = 1
    readapt_on_chip_age: str | None = "10y"
    """The readapt stage also retrains on each chip at this age (None: not)."""
    warm_start_tasks: tuple[str, ...] = ("cola", "rte")
    """Tasks whose ``ahwa-lora`` starts from the task's ``digital-lora``
    adapter and head instead of fresh ones: on CoLA the cold start never
    leaves the majority class (MCC 0.00 on every chip; ``docs/recipes.md``),
    on RTE it stays within 2 points of it (noise-free 54.15 after 5 epochs;
    ``docs/studies/reproduce.md``)."""
    warm_start_epochs: int = 3
    """Epochs of a warm-started ``ahwa-lora`` run (the recipe's otherwise)."""
    memory_task: str = "rte"
    """The task whose recipe (batch, length) the memory stage trains with:
    RTE's pairs fill its 128 tokens, so activations weigh as in training."""
    memory_steps: int = 3


FAST = ReproduceSizes(
    tasks=("sst2", "stsb"),
    chips=2,
    times=("0", "10y"),
    max_train_examples=32,
    max_eval_examples=16,
    max_length=16,
    epochs=1,
    chip_lora_examples=16,
    ranks=(2, 8),
    rank_tasks=("sst2",),
    warm_start_tasks=("stsb",),
    memory_task="sst2",
    memory_steps=1,
)


@dataclass
class Study:
    """Where everything goes, and the settings shared by the stages."""

    out: Path
    sizes: ReproduceSizes
    data_dir: str | None
    device: str = "cpu"
    """Where every step trains and evaluates (bits are reproducible per device)."""

    def run_dir(self, task: str, method: str, chip: int | None = None) -> Path:
        base = self.out / "train" / task / method
        return base / f"chip{chip}" if chip is not None else base

    def sweep_dir(self, task: str, method: str, chip: int | None = None) -> Path:
        base = self.out / "sweeps" / task / method
        return base / f"chip{chip}" if chip is not None else base

    @property
    def seeds(self) -> list[int]:
        return [self.sizes.first_chip_seed + i for i in range(self.sizes.chips)]


def run_reproduce(
    out_dir: str | Path,
    data_dir_: str | None = None,
    fast: bool = False,
    stages: tuple[str, ...] = STAGES,
    sizes: ReproduceSizes | None = None,
    results_dir: str | Path | None = None,
    results_md: str | Path | None = None,
    device: str = "cpu",
) -> Path:
    """Run (or continue) the study; returns the directory of its results
    (``results_dir``, default ``OUT/results``). With ``results_md``, the
    report stage also writes RESULTS.md there. Every step runs on ``device``."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise AnaloraError(f"--stage {unknown[0]!r} is unknown: use {', '.join(STAGES)}")
    sizes = sizes or (FAST if fast else ReproduceSizes())
    odd = [m for m in sizes.methods if m not in METHODS]
    if odd:
        raise AnaloraError(f"--methods {odd[0]!r} is not studied: use {', '.join(METHODS)}")
    from analora.tasks.registry import TASKS as KNOWN

    odd = [t for t in sizes.warm_start_tasks if t not in KNOWN]
    if odd:
        raise AnaloraError(f"--warm-start {odd[0]!r} is not a task: use {', '.join(KNOWN)}")
    odd = [t for t in sizes.rank_tasks if t not in KNOWN]
    if odd:
        raise AnaloraError(f"--rank-tasks {odd[0]!r} is not a task: use {', '.join(KNOWN)}")
    if sizes.warm_start_epochs < 1:
        raise AnaloraError(
            f"--warm-start-epochs {sizes.warm_start_epochs} trains nothing: give 1 or more"
        )
    if sizes.memory_task not in KNOWN:
        raise AnaloraError(
            f"--memory-task {sizes.memory_task!r} is not a task: use {', '.join(KNOWN)}"
        )
    from analora.studies.analysis import is_archive
    from analora.workflows.runtime import pick_device

    archived = is_archive(Path(out_dir))
    if archived and tuple(stages) != ("report",):
        raise AnaloraError(
            f"{out_dir} holds a study's archived report inputs: only --stage report runs on it "
            "(point --out at the study's own folder to train or sweep)"
        )
    if archived:  # the sizes the study ran with, not the report command's defaults
        sizes = _recorded_sizes(Path(out_dir)) or sizes
    data = data_dir_ if archived else data_dir(data_dir_)  # a report reads no data
    study = Study(Path(out_dir), sizes, data, pick_device(device))
    if not archived:
        _check_data(study)
        study.out.mkdir(parents=True, exist_ok=True)
        _record_invocation(study, stages)
    for task in sizes.tasks:  # task by task, so each finished task is a result
        for stage, step in (("train", train_task), ("sweep", sweep_task)):
            if stage in stages:
                say(f"== {task}: {stage}")
                step(study, task)
    across = (
        ("bank", bank_stage),
        ("readapt", readapt_stage),
        ("rank", rank_stage),
        ("memory", memory_stage),
    )
    for stage, run in across:
        if stage in stages:
            say(f"== stage {stage}")
            run(study)
    target = Path(results_dir) if results_dir else study.out / "results"
    if "report" in stages:
        from analora.files import atomic_write_text
        from analora.studies.analysis import (
            INPUTS_DIR,
            INTRO_FILE,
            archive_inputs,
            rebuild_results_md,
            write_report,
        )

        say("== stage report")
        write_report(study.out, target)
        if not archived:
            archive_inputs(study.out, target / INPUTS_DIR)
        md = Path(results_md) if results_md is not None else None
        atomic_write_text(target / INTRO_FILE, intro(study, target, md) + "\n")
        if results_md is not None:
            rebuild_results_md(target, Path(results_md))
    return target


def _record_invocation(study: Study, stages: tuple[str, ...]) -> None:
    """``study.json``: the latest sizes and every distinct command run here, in
    the order each was first run."""
    command = _command(study.sizes, stages)

    def change(record: dict[str, Any]) -> None:
        commands = record.get("invocations", [])
        if command not in commands:
            commands.append(command)
        record.update(sizes=asdict(study.sizes), data_dir=study.data_dir, invocations=commands)

    update_json(study.out / "study.json", change)


def intro(study: Study, results_dir: Path | None = None, results_md: Path | None = None) -> str:
    """RESULTS.md's opening, from the study directory: which methods ran on
    which task, the commands that ran them, and how long training took (and,
    given ``results_dir``, how to rebuild the results from its archived inputs)."""
    s = study.sizes
    path = study.out / "timings.json"
    timings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    train_s = sum(v["train_s"] for v in timings.values() if isinstance(v, dict))
    ran = _what_ran(study.out)
    missing = _missing(s, ran)
    listed = "; ".join(f"{task}: {', '.join(methods)}" for task, methods in ran.items())
    commands = _invocations(study.out) or [_command(s, STAGES)]
    dev = "full" if s.max_eval_examples is None else f"{s.max_eval_examples} examples"
    train = (
        f"at most {s.max_train_examples:,} examples per run"
        if s.max_train_examples
        else "each task's recipe (`docs/recipes.md`; SST-2: a seeded 20,000-sentence subset, "
        "the others in full)"
    )
    return "\n".join(
        [
            "# Results: the paper's claims on "
            + (f"{next(iter(ran))} alone" if len(ran) == 1 else "the data here"),
            "",
            "Written by `analora study reproduce` from its result files "
            "(`docs/results/`: `summary.json`, `tables.md`, `analyses.json`, plots); "
            "nothing here is typed by hand. Model: the packaged all-MiniLM-L6-v2 "
            "(22.7M parameters), a stand-in for the paper's MobileBERT. Hardware: "
            f"`paper-pcm`. Methods run, by task: {listed or 'none yet'}. Training sets: "
            f"{train}; dev sets: {dev}. Chips: {s.chips} per analog method (seeds "
            f"{s.first_chip_seed}-{s.first_chip_seed + s.chips - 1}, the same for every "
            f"method, so differences are paired), ages: {', '.join(s.times)}. Training took "
            f"{train_s / 60:.0f} min of wall time in all on a 2-core machine running two or "
            "three such jobs at once." + _warm_note(s, ran),
            "",
            "The commands that made it (each skips what is done, so rerunning them in this "
            "order rebuilds it; the whole study is the same command with every task and "
            "method)." + _revisions_note(study.out) + ":",
            "",
            *[f"    {c}" for c in commands],
            "",
            *_rebuild_note(study, results_dir, results_md),
            "What this can and cannot show: MiniLM is a 6-layer sentence encoder, not the "
            f"paper's MobileBERT, and {_scores_note(ran)}, so the comparisons are about "
            "direction and significance, not the paper's sizes. "
            + missing[:1].upper()
            + missing[1:]
            + "A verdict is 'reproduced' only when the 95 % confidence interval of the paired "
            "difference lies on the claimed side, 'inconclusive' when it straddles.",
        ]
    )


def _scores_note(ran: dict[str, list[str]]) -> str:
    """How the scores here differ from the paper's SQuAD F1 headline."""
    notes = []
    if any(t != "squad-devsplit" for t in ran) or not ran:
        notes.append("GLUE dev scores are not the paper's SQuAD F1 headline")
    if "squad-devsplit" in ran:
        notes.append(
            "SQuAD-devsplit trains on the questions of 38 of the 48 articles of SQuAD v1.1's "
            "dev set and is scored on the other 10 (`docs/tasks.md`), not the paper's SQuAD "
            "v1.1 training set of 87,599 questions and its full dev set"
        )
    return ", and ".join(notes)


def _recorded_sizes(out: Path) -> ReproduceSizes | None:
    """The sizes ``study.json`` in ``out`` recorded (its latest run's)."""
    path = out / "study.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8")).get("sizes") or {}
    known = {f.name for f in fields(ReproduceSizes)}
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known
    }
    return ReproduceSizes(**values)


def _rebuild_note(study: Study, results_dir: Path | None, results_md: Path | None) -> list[str]:
    """How to rebuild the results without the study folder: the report stage
    run on the inputs it archived beside them."""
    if results_dir is None:
        return []
    from analora.studies.analysis import INPUTS_DIR, is_archive

    def shown(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)

    where = shown(study.out if is_archive(study.out) else results_dir / INPUTS_DIR)
    md = f" --results-md {shown(results_md)}" if results_md is not None else ""
    return [
        f"`{where}/` keeps every file of the study folder that the report reads (the "
        "sweeps' `results.json`, the training logs and timings; not the checkpoints), so "
        "these results and this file are rebuilt without the study's runs by:",
        "",
        f"    analora study reproduce --out {where} --stage report --results-dir "
        f"{shown(results_dir)}{md}",
        "",
    ]


def _revisions_note(out: Path) -> str:
    """How many analora revisions ran the sweeps (each records its own), and
    what a rerun at another revision gives."""
    revisions = set()
    for path in out.rglob("results.json"):
        try:
            rev = json.loads(path.read_text()).get("git_revision")
        except (OSError, ValueError, AttributeError):
            continue
        if rev:
            revisions.add(rev)
    if not revisions:
        return ""
    return (
        f" Each sweep records the analora revision that ran it (`git_revision` in its "
        f"`results.json`; {len(revisions)} revision{'s' if len(revisions) != 1 else ''} "
        "here). The same seeds give the same bits on the same revision and device; a "
        "revision that changed the engine's random streams (`docs/performance.md` names "
        "them) gives the same statistics, not the same bits"
    )


def _what_ran(out: Path) -> dict[str, list[str]]:
    """Per task, the methods with a finished sweep (or, for the digital
    references, a finished run), in the study's order."""
    ran: dict[str, set[str]] = {}
    for path in out.glob("sweeps/*/*/results.json"):
        if path.parent.parent.name != "bank" and "-r" not in path.parent.name:
            ran.setdefault(path.parent.parent.name, set()).add(path.parent.name)
    for path in out.glob("train/*/*/deployment.json"):
        if path.parent.name in ("digital", "digital-lora"):
            ran.setdefault(path.parent.parent.name, set()).add(path.parent.name)
    order = {m: i for i, m in enumerate(METHODS)}
    return {
        t: sorted(ms, key=lambda m: order.get(m, len(order)))
        for t, ms in sorted(
            ran.items(), key=lambda kv: TASKS.index(kv[0]) if kv[0] in TASKS else 99
        )
    }


def _warm_note(s: ReproduceSizes, ran: dict[str, list[str]]) -> str:
    warm = [t for t in s.warm_start_tasks if "ahwa-lora" in ran.get(t, [])]
    if not warm:
        return ""
    return (
        f" On {', '.join(warm)}, `ahwa-lora` starts from that task's `digital-lora` adapter "
        f"and head and trains {s.epochs or s.warm_start_epochs} epochs (`--warm-start`; "
        "`docs/recipes.md` and `docs/studies/reproduce.md` say why these tasks need it); on "
        "the other tasks it starts from fresh adapters."
    )


def _invocations(out: Path) -> list[str]:
    path = out / "study.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("invocations", []))


def _command(s: ReproduceSizes, stages: tuple[str, ...]) -> str:
    """The command line that runs a study of these sizes and stages."""
    parts = ["analora study reproduce --data-dir DATA --out runs/reproduce"]
    if s.tasks != TASKS:
        parts.append("--tasks " + " ".join(s.tasks))
    if s.methods != METHODS:
        parts.append("--methods " + " ".join(s.methods))
    parts.append(f"--chips {s.chips} --times " + " ".join(s.times))
    if s.max_train_examples:
        parts.append(f"--max-train-examples {s.max_train_examples}")
    parts.append(f"--chip-lora-examples {s.chip_lora_examples}")
    if s.warm_start_tasks != ReproduceSizes.warm_start_tasks:
        parts.append("--warm-start " + " ".join(s.warm_start_tasks))
    if s.warm_start_epochs != ReproduceSizes.warm_start_epochs:
        parts.append(f"--warm-start-epochs {s.warm_start_epochs}")
    if s.rank_tasks != ReproduceSizes.rank_tasks:
        parts.append("--rank-tasks " + " ".join(s.rank_tasks))
    if s.memory_task != ReproduceSizes.memory_task:
        parts.append(f"--memory-task {s.memory_task}")
    if tuple(stages) != STAGES:
        parts.append(" ".join(f"--stage {x}" for x in stages))
    return " ".join(parts)


def _missing(s: ReproduceSizes, ran: dict[str, list[str]]) -> str:
    left = [t for t in TASKS if t not in ran]
    partial = [t for t, ms in ran.items() if len(ms) < len(METHODS)]
    parts = []
    if left:
        parts.append(f"the tasks {', '.join(left)} were not run")
    if partial:
        parts.append(
            f"on {', '.join(partial)} only the methods listed above ran (the digital-lora "
            "recipe run alone where no analog method is listed)"
        )
    if len(s.times) < 7:
        parts.append(f"{len(s.times)} of the paper's 7 ages were read")
    if s.max_train_examples:
        parts.append(f"each method trained on at most {s.max_train_examples:,} examples")
    return ("; ".join(parts) + ". ") if parts else ""


def _check_data(study: Study) -> None:
    from analora.tasks import load_task

    for task in study.sizes.tasks:  # fail now, not after an hour
        load_task(task, splits=["validation"], data_dir=study.data_dir)


def _spec(study: Study, task: str, method: str, model: str = "minilm", **extra: Any) -> Any:
    from analora.workflows import RunSpec

    s = study.sizes
    values: dict[str, Any] = {
        "max_train_examples": s.max_train_examples,
        "max_eval_examples": s.max_eval_examples,
        "max_length": s.max_length,
        "epochs": s.epochs,
        "seed": 0,
    }
    values.update(extra)
    return RunSpec(method=method, model=model, task=task, **values)


def _timed_train(study: Study, name: str, spec: Any, out: Path) -> None:
    """Train unless done; keep the wall time of the training in ``timings.json``
    (for a resumed run, with the loop time its checkpoint kept from before)."""
    t0 = time.perf_counter()
    ran = train_step(name, spec, out, study.data_dir, study.device)
    if ran is None:
        return
    record: dict[str, Any] = {"train_s": time.perf_counter() - t0}
    if ran.prior_train_s is None:  # resumed from a checkpoint without the time before
        record["partial"] = True
    else:
        record["train_s"] += ran.prior_train_s  # the loop time kept before a resume
    record.update(trainable=ran.trainable, steps=ran.steps)
    key = str(out.relative_to(study.out))
    update_json(study.out / "timings.json", lambda timings: timings.update({key: record}))


def train_task(study: Study, task: str) -> None:
    """Every method on one task (``chip-lora`` once per sweep chip)."""
    methods = study.sizes.methods
    for method in ("digital", "digital-lora"):
        if method in methods:
            spec = _spec(study, task, method)
            _timed_train(study, f"{task} {method}", spec, study.run_dir(task, method))
    if "ahwa-lora" in methods:
        _train_ahwa_lora(study, task)
    digital = str(study.run_dir(task, "digital"))
    for method in ("direct", "ahwa"):
        if method in methods:
            spec = _spec(study, task, method, model=digital)
            _timed_train(study, f"{task} {method}", spec, study.run_dir(task, method))
    if "chip-lora" in methods:
        _train_chip_lora(study, task)


def _train_ahwa_lora(study: Study, task: str) -> None:
    """``ahwa-lora`` from fresh adapters, or on a warm-start task from the
    task's ``digital-lora`` run (trained first when it is missing)."""
    s = study.sizes
    if task not in s.warm_start_tasks:
        spec = _spec(study, task, "ahwa-lora")
    else:
        start = study.run_dir(task, "digital-lora")
        if "digital-lora" not in s.methods:  # else trained just before
            _timed_train(study, f"{task} digital-lora", _spec(study, task, "digital-lora"), start)
        if not (start / "adapter" / "analora_adapter.json").is_file():
            raise AnaloraError(
                f"{start} predates adapter metadata and cannot warm-start {task}'s ahwa-lora: "
                f"delete it so the study retrains it, or leave {task} out of --warm-start"
            )
        epochs = s.epochs or s.warm_start_epochs
        spec = _spec(study, task, "ahwa-lora", init_adapter=str(start), epochs=epochs)
    _timed_train(study, f"{task} ahwa-lora", spec, study.run_dir(task, "ahwa-lora"))


def _train_chip_lora(study: Study, task: str) -> None:
    s = study.sizes
    for seed in study.seeds:
        spec = _spec(
            study,
            task,
            "chip-lora",
            chip_seed=seed,
            init_adapter=str(study.run_dir(task, "ahwa-lora")),
            epochs=s.chip_lora_epochs,
            lr=s.chip_lora_lr,
            max_train_examples=min(s.chip_lora_examples, s.max_train_examples or 10**9),
        )
        _timed_train(
            study, f"{task} chip-lora {seed}", spec, study.run_dir(task, "chip-lora", seed)
        )


def sweep_task(study: Study, task: str) -> None:
    """Every method of one task on the same chips and ages."""
    s = study.sizes
    for method in s.methods:
        if method == "chip-lora":
            _sweep_chip_lora(study, task)
            continue
        say(f"[sweep] {task} {method}")
        sweep_step(
            study.run_dir(task, method), study.sweep_dir(task, method), chips=s.chips,
            times=s.times, data_dir_=study.data_dir, first_chip_seed=s.first_chip_seed,
            max_eval_examples=s.max_eval_examples, device=study.device,
        )  # fmt: skip


CHIP_LORA_READ_INDEX = BOUND_READ_INDEX
"""The read index the study sweeps ``chip-lora`` with: a sweep's default for
a chip-bound adapter (:data:`analora.sweep.runner.BOUND_READ_INDEX`). Its
adapters trained on their chip read with index 0 (at age 0, the very read a
0-s sweep with index 0 would repeat, read noise included), so they are read
with fresh read noise instead; programming noise and drift, which the
pairing by chip is about, are the same for every index."""


def _sweep_chip_lora(study: Study, task: str) -> None:
    """Each chip's own adapter on its chip, read with :data:`CHIP_LORA_READ_INDEX`;
    the cells joined into one record."""
    from analora.sweep.engine import Results
    from analora.sweep.results import JSON_FILE, parse_ages, read_results

    parts = []
    ages = sorted(parse_ages(list(study.sizes.times)))
    for seed in study.seeds:
        where = study.sweep_dir(task, "chip-lora", seed)
        done = where / JSON_FILE
        if (where / "sweep.json").is_file():
            record = json.loads((where / "sweep.json").read_text(encoding="utf-8"))
            index = record.get("sweep", {}).get("read_index", 0)
            if index != CHIP_LORA_READ_INDEX:
                raise AnaloraError(
                    f"{where} was swept with read index {index}, the read its adapter trained on;"
                    f" the study now reads chip-lora with index {CHIP_LORA_READ_INDEX}: move or "
                    "delete that folder so the study sweeps it again"
                )
        if done.is_file() and sorted(read_results(done)["times_s"]) == ages:
            # a finished chip: its results, not its adapter, are needed
            parts.append(read_results(done))
            continue
        say(f"[sweep] {task} chip-lora on chip {seed}")
        parts.append(
            sweep_step(
                study.run_dir(task, "chip-lora", seed), where, chips=1, times=study.sizes.times,
                data_dir_=study.data_dir, first_chip_seed=seed, device=study.device,
                read_index=CHIP_LORA_READ_INDEX,
            )
        )  # fmt: skip
    first = parts[0]
    Results(
        method="chip-lora",
        label="chip-lora (one adapter per chip)",
        task=first["task"],
        eval_split=first["eval_split"],
        primary_metric=first["primary_metric"],
        digital=first["digital"],
        cells=[c for p in parts for c in p["cells"]],
        times_s=first["times_s"],
        chip_seeds=[p["chip_seeds"][0] for p in parts],
        read_index=first["read_index"],
        chip_ids={k: v for p in parts for k, v in p["chip_ids"].items()},
        model_fingerprint=first["model_fingerprint"],
        configs={"parts": [p["configs"] for p in parts]},
    ).write(study.sweep_dir(task, "chip-lora"))


def bank_stage(study: Study) -> None:
    """The classification adapters on one chip, in mixed batches."""
    from analora.bank import add_to_bank
    from analora.bank.sweep import sweep_bank
    from analora.sweep.results import parse_ages
    from analora.sweep.runner import SweepConfig
    from analora.tasks import get_task

    s = study.sizes
    tasks = [t for t in s.tasks if get_task(t).model_class == "sequence-classification"]
    bank_dir = study.out / "bank"
    held: set[str] = set()
    if (bank_dir / "bank.json").is_file():
        held = set(json.loads((bank_dir / "bank.json").read_text(encoding="utf-8"))["adapters"])
    for task in tasks:
        if task not in held:
            add_to_bank(bank_dir, study.run_dir(task, "ahwa-lora"))
    say(f"[sweep] the bank: {len(tasks)} tasks in mixed batches")
    config = SweepConfig(
        chips=s.chips, times_s=parse_ages(list(s.times)), first_chip_seed=s.first_chip_seed
    )
    sweep_bank(bank_dir, study.out / "sweeps" / "bank", config, data_dir=study.data_dir,
               max_eval_examples=s.max_eval_examples, device=study.device)  # fmt: skip


def readapt_stage(study: Study) -> None:
    """The 8- to 6-bit change on these chips, the adapter retrained only."""
    from analora.studies.readapt import ReadaptSizes, run_readapt

    s = study.sizes
    if s.readapt_task not in s.tasks:
        return
    sizes = ReadaptSizes(
        task=s.readapt_task,
        train_examples=s.max_train_examples,
        eval_examples=s.max_eval_examples,
        max_length=s.max_length,
        lr=None,
        batch_size=None,
        retrain_epochs=s.readapt_epochs,
        on_chip_age=s.readapt_on_chip_age,
        on_chip_examples=min(s.chip_lora_examples, s.max_train_examples or 10**9),
        on_chip_epochs=s.chip_lora_epochs,
        on_chip_lr=s.chip_lora_lr,
        chips=s.chips,
        first_chip_seed=s.first_chip_seed,
        times=s.times,
    )
    adapter = study.run_dir(s.readapt_task, "ahwa-lora")
    run_readapt(
        study.out / "readapt", study.data_dir, adapter=adapter, sizes=sizes, device=study.device
    )


def rank_stage(study: Study) -> None:
    """``ahwa-lora`` at each rank on the rank tasks (r = 8 is the main run)."""
    s = study.sizes
    for task in s.rank_tasks:
        if task not in s.tasks:
            continue
        for rank in s.ranks:
            if rank == 8:
                continue
            run = study.out / "train" / task / f"ahwa-lora-r{rank}"
            _timed_train(study, f"{task} r={rank}", _spec(study, task, "ahwa-lora", rank=rank), run)
            say(f"[sweep] {task} ahwa-lora r={rank}")
            sweep_step(
                run, study.out / "sweeps" / task / f"ahwa-lora-r{rank}", chips=s.chips,
                times=s.times, data_dir_=study.data_dir, first_chip_seed=s.first_chip_seed,
                device=study.device,
            )  # fmt: skip


MEMORY_FILE = "memory.json"


NO_DROPOUT = "ahwa-lora, no dropout"
"""The memory stage's extra row: ``ahwa-lora`` with LoRA dropout 0, which
separates what the adapters' dropout keeps for the backward pass."""


def memory_stage(study: Study) -> None:
    """Each training method's memory (:func:`~analora.workflows.memory.training_memory`)
    on ``memory_task`` for ``memory_steps`` steps, one fresh process each, into
    ``OUT/memory.json`` (and ``ahwa-lora`` once more without LoRA dropout,
    :data:`NO_DROPOUT`); a row measured with the same settings is skipped."""
    from dataclasses import asdict

    from analora.training.registry import get_method
    from analora.workflows.memory import MEMORY_FORMAT, training_memory

    s = study.sizes
    path = study.out / MEMORY_FILE
    done = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (m, m, {"chip_seed": s.first_chip_seed} if m == "chip-lora" else {})
        for m in s.methods
        if get_method(m).trains != "nothing"
    ]
    if "ahwa-lora" in s.methods:
        rows.append((NO_DROPOUT, "ahwa-lora", {"lora_dropout": 0.0}))
    want = {"task": s.memory_task, "steps": s.memory_steps, "device": study.device}
    for key, method, extra in rows:
        old = done.get("methods", {}).get(key)
        if old and all(old.get(k) == v for k, v in want.items()):
            say(f"[memory] {key}: measured already")
            continue
        say(f"[memory] {key} on {s.memory_task}, {s.memory_steps} steps")
        spec = _spec(study, s.memory_task, method, **extra)
        measured = training_memory(
            spec, steps=s.memory_steps, data_dir=study.data_dir, device=study.device
        )
        found = asdict(measured)

        def add(record: dict[str, Any], key: str = key, found: dict = found) -> None:
            record["format"] = MEMORY_FORMAT
            record.setdefault("methods", {})[key] = found

        done = update_json(path, add)
