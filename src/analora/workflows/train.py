"""``train_run``: one method on one task into a self-describing run directory.

Everything is checked before anything is written: the method and its flags,
the hardware, the task data, the model and its head, a given chip. Then the
directory gets ``run.json`` (the settings, and fingerprints of the data and
artefacts the run reads) and the method's outputs (its artefact,
``train_log.json``, ``deployment.json``). A directory holding a run is only
continued by ``resume=True`` with the same settings and inputs; whatever
differs is named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json, read_json
from analora.training.recipes import recipe_for
from analora.training.registry import Method, get_method

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
RUN_FORMAT = "analora-run/1"


@dataclass(frozen=True)
class RunSpec:
    """The settings of one run (``analora train``'s flags). ``None`` for
    ``epochs``, ``batch_size``, ``lr``, ``warmup_ratio`` and ``max_length``
    and ``max_train_examples`` means the task's recipe
    (:mod:`analora.training.recipes`; its subset, else the whole split)."""

    method: str
    model: str
    task: str
    hardware: str = "paper-pcm"
    set: tuple[str, ...] = ()
    chip: str | None = None
    chip_seed: int | None = None
    """Seed of the chip programmed for the run (None: 0, or a given chip's own)."""
    chip_age_s: float = 0.0
    eval_age_s: float = 0.0
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    warmup_ratio: float | None = None
    rank: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    targets: str = "all"
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    max_length: int | None = None
    doc_stride: int | None = None
    head: str | None = None
    pooling: str | None = None
    """Classification heads: ``cls``, ``mean`` or ``auto`` (None: the model's
    own, :mod:`analora.training.pooling`)."""
    seed: int = 0
    init_adapter: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "set", tuple(self.set or ()))
        method = get_method(self.method)  # an unknown name fails here
        if self.init_adapter and not method.takes_chip:
            raise AnaloraError(
                f"--init-adapter warm-starts {_names(takes_chip=True)}, not {self.method}: drop it"
            )
        if self.chip and not method.takes_chip:
            raise AnaloraError(
                f"--chip is for {_names(takes_chip=True)}, not {self.method}: drop --chip"
            )
        if self.chip and self.chip_seed is not None:
            raise AnaloraError(
                "--chip-seed programs a new chip, --chip uses a saved one: drop one of them"
            )

    def resolved(self) -> RunSpec:
        """This spec with the recipe's values where it leaves them out."""
        from analora.tasks import get_task

        task = get_task(self.task).name
        recipe = recipe_for(task, self.method)
        lr = self.lr if self.lr is not None else recipe.lr
        if self.lr is None and get_method(self.method).trains == "nothing":
            lr = 0.0
        return replace(
            self,
            task=task,
            epochs=self.epochs if self.epochs is not None else recipe.epochs,
            batch_size=self.batch_size if self.batch_size is not None else recipe.batch_size,
            lr=lr,
            warmup_ratio=self.warmup_ratio
            if self.warmup_ratio is not None
            else recipe.warmup_ratio,
            max_length=self.max_length if self.max_length is not None else recipe.max_length,
            max_train_examples=self.max_train_examples
            if self.max_train_examples is not None
            else recipe.max_train_examples,
        )

    def record(self, hardware_fingerprint: str) -> dict[str, Any]:
        """``run.json``'s settings (a resumed run must match them)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["set"] = list(self.set) or None
        if values["chip_seed"] is None:
            values["chip_seed"] = 0
        return {"format": RUN_FORMAT, **values, "hardware_fingerprint": hardware_fingerprint}


def _names(**where: Any) -> str:
    from analora.training.registry import method_names

    return " and ".join(method_names(**where))


@dataclass
class Run:
    """A finished (or, in a non-main process, joined) run."""

    out: Path
    spec: RunSpec
    method: Method
    eval_split: str
    metrics: dict[str, float]
    artefact: Path
    steps: int | None
    """Optimiser steps (None when the method trains nothing)."""
    trainable: dict[str, int]
    """Trainable parameters by kind: ``lora``, ``head``, ``other`` (adapters) or ``all``."""
    chip_seed: int | None
    is_main: bool = True
    notes: list[str] = field(default_factory=list)
    prior_train_s: float | None = 0.0
    """Training-loop wall time kept from before a resume (0 for a run in one
    go; None when the checkpoint resumed from predates the record)."""


def train_run(
    spec: RunSpec,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    progress: Any = None,
) -> Run:
    """Train (or deploy) ``spec`` into ``out``; continue it with ``resume``."""
    import contextlib
    import os

    from analora.files import output_lock

    out = Path(out)
    # One writer per run directory; under ``accelerate launch`` the main process holds it.
    main_process = int(os.environ.get("RANK", "0")) == 0
    lock = output_lock(out, "analora train", beside=True) if main_process else None
    with lock or contextlib.nullcontext():
        return _train_locked(spec, out, data_dir, resume, device, progress)


def _train_locked(
    spec: RunSpec, out: Path, data_dir: str | Path | None, resume: bool, device: str, progress: Any
) -> Run:
    from analora.training.methods import run_method

    prepared = _prepare(spec.resolved(), out, data_dir, resume, device)
    job, record = prepared.job, prepared.record
    job.progress = progress
    if prepared.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / RUN_FILE, record)
    if job.accelerator is not None:
        job.accelerator.wait_for_everyone()
    result = run_method(job)
    return Run(
        out=out,
        spec=prepared.spec,
        method=job.spec,
        eval_split=job.eval_split or "",
        metrics=result.metrics,
        artefact=result.artefact,
        steps=result.train.steps if result.train is not None else None,
        trainable=_trainable(result.model, job.spec),
        chip_seed=job.chip.seed if job.chip is not None else job.chip_seed,
        is_main=prepared.is_main,
        notes=prepared.notes,
        prior_train_s=result.train.prior_wall_s if result.train is not None else 0.0,
    )


def _trainable(model: Any, method: Method) -> dict[str, int]:
    if method.trains == "adapter":
        from analora.adapters import trainable_parameters

        return dict(trainable_parameters(model))
    if method.trains == "weights":
        return {"all": sum(p.numel() for p in model.parameters())}
    return {}


@dataclass
class _Prepared:
    spec: RunSpec
    job: Any
    record: dict[str, Any]
    is_main: bool
    notes: list[str]


def _prepare(
    spec: RunSpec, out: Path, data_dir: str | Path | None, resume: bool, device: str
) -> _Prepared:
    """Every check and every load, before anything is written."""
    from analora.hardware import load_hardware
    from analora.tasks import get_task
    from analora.training.methods import HEADS, LoraSettings, MethodJob, init_adapter_dir
    from analora.training.trainer import TrainConfig
    from analora.workflows.runtime import accelerator, pick_device

    method = get_method(spec.method)
    hw = load_hardware(spec.hardware, list(spec.set) or None)
    task = get_task(spec.task)
    head = spec.head or HEADS[task.model_class]
    device = pick_device(device, method)
    model_path, source = resolve_model(spec.model)
    spec = replace(spec, pooling=_pooling(spec, task, model_path, source))
    notes = _base_notes(spec, method, source)
    record = spec.record(hw.fingerprint())
    if spec.init_adapter is not None:
        init_adapter_dir(spec.init_adapter)
    previous = check_run_dir(out, record, resume)
    acc = accelerator(device)
    is_main = acc is None or acc.is_main_process
    inputs, model, chip = _load_inputs(spec, task, model_path, head, method, data_dir, hw)
    record["inputs"] = _fingerprints(inputs, chip, source, model_path)
    if previous is not None:
        _check_inputs(out, previous, record)
    config = None
    if method.trains != "nothing":
        assert spec.epochs is not None and spec.batch_size is not None and spec.lr is not None
        config = TrainConfig(
            epochs=spec.epochs,
            batch_size=spec.batch_size,
            lr=spec.lr,
            warmup_ratio=spec.warmup_ratio or 0.0,
            seed=spec.seed,
            primary_metric=task.primary_metric,
        )
    job = MethodJob(
        method=spec.method,
        model=model,
        task=task.name,
        eval_data=inputs.evaluation,
        out=out,
        train_data=inputs.train,
        config=config,
        hardware=hw,
        lora=LoraSettings(spec.rank, spec.lora_alpha, spec.lora_dropout, spec.targets),
        head=head,
        model_class=task.model_class,
        chip=chip,
        chip_dir=spec.chip,
        chip_seed=chip.seed if chip is not None else (spec.chip_seed or 0),
        chip_age_s=spec.chip_age_s,
        eval_age_s=spec.eval_age_s,
        eval_split=inputs.eval_split,
        init_adapter=spec.init_adapter,
        model_spec=model_path,
        tokenizer=inputs.tokenizer,
        resume=resume and previous is not None,
        device=device,
        accelerator=acc,
    )
    return _Prepared(spec, job, record, is_main, notes)


def _base_notes(spec: RunSpec, method: Method, source: dict[str, Any] | None) -> list[str]:
    if method.base == "digital" and (source is None or source.get("method") != "digital"):
        note = (
            f"--method {spec.method} expects a fine-tuned model (the output of --method "
            f"digital); {spec.model} is used as it is"
        )
        log.info(note)
        return [note]
    return []


def _load_inputs(
    spec: RunSpec,
    task: Any,
    model_path: str,
    head: str,
    method: Method,
    data_dir: str | Path | None,
    hw: Any,
) -> tuple[Any, Any, Any]:
    """The task's tensors, the model (its new head seeded from the run's
    seed, not from whatever the process drew before) and a given chip."""
    import torch

    from analora.models import resolve
    from analora.seeds import derive_seed
    from analora.training.data import task_inputs

    inputs = task_inputs(
        task.name,
        resolve(model_path),
        data_dir=data_dir,
        max_train_examples=spec.max_train_examples,
        max_eval_examples=spec.max_eval_examples,
        max_length=spec.max_length,
        doc_stride=spec.doc_stride,
        seed=spec.seed,
        with_train=method.trains != "nothing",
    )
    torch.manual_seed(derive_seed(spec.seed, "head-init"))
    model = load_task_model(model_path, task, spec.pooling)
    check_model_fits(model, spec.max_length or task.max_length, head)
    chip = None
    if spec.chip:
        chip = _load_chip(spec.chip, model, hw)
    return inputs, model, chip


def load_task_model(model_path: str, task: Any, pooling: str | None = None) -> Any:
    """The model with the task's head (its label names recorded), pooling as the run says."""
    from analora.models import load_model, set_label_names
    from analora.tasks.registry import label_names
    from analora.training.pooling import apply_pooling

    if task.model_class == "question-answering":
        return load_model(model_path, task.model_class)
    model = load_model(model_path, task.model_class, num_labels=task.num_labels)
    set_label_names(model, label_names(task))  # a saved model says what its outputs mean
    return apply_pooling(model, pooling or "cls")


def _pooling(spec: RunSpec, task: Any, model_path: str, source: dict | None) -> str | None:
    """The run's pooling: None for question answering; a digitally
    fine-tuned model deploys with the pooling it was trained with."""
    from analora.models import resolve
    from analora.training.pooling import resolve_pooling

    if task.model_class != "sequence-classification":
        return None
    if source is not None and spec.pooling in (None, "auto"):
        run = Path(model_path).parent / RUN_FILE
        if run.is_file():
            return read_json(run, AnaloraError, "retrain the digital model").get("pooling") or "cls"
    return resolve_pooling(spec.pooling, resolve(model_path))


def check_model_fits(model: Any, length: int, head: str) -> None:
    """Refuse a length beyond the model's positions and a head it lacks."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and length > positions:
        raise AnaloraError(
            f"--max-length {length} exceeds the model's {positions} positions: "
            f"pass --max-length {positions} or less"
        )
    names = {name for name, _ in model.named_modules()}
    if head not in names:
        raise AnaloraError(
            f"--head {head!r} names no module of the model: pass the name of its task head "
            "(e.g. classifier, qa_outputs)"
        )


def _load_chip(chip_dir: str, model: Any, hw: Any) -> Any:
    from analora.analog import load_chip
    from analora.analog.chip_files import read_chip_meta

    meta = read_chip_meta(chip_dir)
    if meta.get("hardware_fingerprint") != hw.fingerprint():
        name = (meta.get("hardware") or {}).get("name")
        raise AnaloraError(
            f"--chip {chip_dir} was programmed for hardware {name!r}, not {hw.name!r}: "
            f"pass --hardware {name} (or the chip's hardware file) or drop --chip"
        )
    return load_chip(chip_dir, model)


def resolve_model(spec: str) -> tuple[str, dict[str, Any] | None]:
    """``--model`` may name an output directory of ``analora train`` (its
    deployment's model is used) or any model :func:`analora.models.resolve`
    takes. Returns the model path and the deployment record (or None)."""
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


def changed_settings(spec: RunSpec, out: str | Path) -> list[str]:
    """The settings in which the run recorded in ``out/run.json`` differs from
    what ``spec`` would run (empty: the same run), resolved as training
    resolves them (recipe defaults, pooling, the hardware's fingerprint)."""
    from analora.hardware import load_hardware
    from analora.tasks import get_task

    out = Path(out)
    spec = spec.resolved()
    hw = load_hardware(spec.hardware, list(spec.set) or None)
    model_path, source = resolve_model(spec.model)
    spec = replace(spec, pooling=_pooling(spec, get_task(spec.task), model_path, source))
    record = spec.record(hw.fingerprint())
    previous = read_json(out / RUN_FILE, AnaloraError, f"delete {out} to start the run again")
    settings = {k: v for k, v in previous.items() if k != "inputs"}
    return sorted(k for k in set(record) | set(settings) if settings.get(k) != record.get(k))


def check_run_dir(out: Path, record: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The run already in ``out`` when resuming it with the same settings
    (None for a fresh directory); refuse every other case with the way out."""
    run_file = out / RUN_FILE
    if not run_file.is_file():
        if out.exists() and not out.is_dir():
            raise AnaloraError(f"--out {out} is a file: choose a directory")
        if resume:
            raise AnaloraError(f"{out} holds no run to resume: drop --resume")
        if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()):
            raise AnaloraError(f"{out} is not empty: choose another --out")
        return None
    previous: dict[str, Any] = read_json(
        run_file, AnaloraError, f"delete {out} to start the run again"
    )
    if not resume:
        raise AnaloraError(
            f"{out} already holds a run: pass --resume to continue it or choose another --out"
        )
    settings = {k: v for k, v in previous.items() if k != "inputs"}
    if settings != record:
        changed = sorted(k for k in set(record) | set(settings) if settings.get(k) != record.get(k))
        raise AnaloraError(
            f"--resume with other settings than the run in {out} "
            f"({', '.join(changed)}): use the same ones, or another --out for a new run"
        )
    return previous


def _check_inputs(out: Path, previous: dict[str, Any], record: dict[str, Any]) -> None:
    before, now = previous.get("inputs"), record["inputs"]
    if before is None:
        return  # a run recorded before inputs were fingerprinted
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if changed:
        raise AnaloraError(
            f"the run in {out} read other inputs than these ({', '.join(changed)} changed): "
            f"restore them, or start a new run in another --out"
        )


def _fingerprints(
    inputs: Any, chip: Any, source: dict[str, Any] | None, model_path: str
) -> dict[str, Any]:
    """What the run reads, by content: the data it uses, a given chip, and a
    base model that is a run's output."""
    from analora.files import fingerprint_path

    found: dict[str, Any] = {"data": inputs.fingerprint}
    if chip is not None:
        found["chip"] = chip.fingerprint()
    if source is not None:
        found["model"] = fingerprint_path(model_path)
    return found
