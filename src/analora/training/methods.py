"""The training methods on classification tasks, each ending in a deployable
artefact plus its training log (``train_log.json``) and ``deployment.json``.

* ``digital``: fine-tune every weight, no hardware simulation. Saves the model.
* ``digital-lora``: LoRA on the digital model's linear layers, no hardware.
* ``direct``: program a (``digital``) fine-tuned model onto a chip with no
  adaptation ("deploy and hope"). Saves the model to program.
* ``ahwa``: full analog hardware-aware training of all weights, starting from
  the ``digital`` model (the paper's baseline): training weight noise and the
  converter limits, learned out-scales, and clip plus re-map of the analog
  weights after every optimiser step (aihwkit's semantics). Saves the trained
  analog model, which is then programmed.
* ``ahwa-lora`` (Li et al., arXiv 2411.17367): the pretrained weights are
  programmed once onto a chip; LoRA on every analog layer plus a digital task
  head train under the hardware config's generic training noise (target
  weights + fresh weight noise, converters, output noise).
* ``chip-lora``: the same adapters trained against one programmed chip, read
  at ``chip_age_s`` (its programming noise, drift, read and output noise)
  instead of the generic noise; the adapter is bound to that chip.

All share the digital head, the :class:`~analora.training.trainer.Trainer`
and the evaluation; the analog methods evaluate on a chip (seed
``chip_seed``) read at ``eval_age_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import Tensor, nn

from analora.adapters import (
    add_lora,
    digital_fingerprint,
    save_adapter,
    save_digital_adapter,
    select_targets,
)
from analora.adapters.dropout import use_lora_dropout
from analora.analog import Chip, convert, post_update_step, program, save_analog_model
from analora.analog.convert import mappable_layers
from analora.errors import AnaloraError
from analora.files import atomic_write_json
from analora.hardware import HardwareConfig
from analora.training.deployment import Deployment, model_reference, write_deployment
from analora.training.evaluation import (  # noqa: F401  (re-exported: the evaluation API)
    MODEL_INPUTS,
    EvalData,
    QAEvaluator,
    classification_tensors,
    evaluate_classification,
    evaluator,
    qa_train_tensors,
)
from analora.training.registry import Method, get_method, method_names
from analora.training.trainer import TrainConfig, Trainer, TrainResult

HEADS = {"sequence-classification": "classifier", "question-answering": "qa_outputs"}
"""The digital task head of BERT-family models, by model class (``--head`` overrides)."""


@dataclass(frozen=True)
class LoraSettings:
    """The paper's adapter: rank 8, alpha 32, dropout 0.1, every analog layer."""

    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    targets: str = "all"


@dataclass
class MethodJob:
    """Everything one method run needs; :func:`run_method` dispatches it
    through the registry. ``model`` is the model to train (or to program,
    for ``direct``); ``train_data`` is None for methods that train nothing."""

    method: str
    model: nn.Module
    task: str
    eval_data: EvalData
    out: Path
    train_data: dict[str, Tensor] | None = None
    config: TrainConfig | None = None
    hardware: HardwareConfig | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    head: str = "classifier"
    model_class: str = "sequence-classification"
    chip: Chip | None = None
    """A chip programmed from ``model`` (adapter methods; else one is programmed)."""
    chip_dir: str | Path | None = None
    chip_seed: int = 0
    chip_age_s: float = 0.0
    eval_age_s: float = 0.0
    eval_split: str | None = None
    init_adapter: str | Path | None = None
    model_spec: str | None = None
    """The base model as the user named it (recorded in ``deployment.json``)."""
    tokenizer: Any = None
    resume: bool = False
    progress: Any = None
    device: str | torch.device = "cpu"
    accelerator: Any = None

    @property
    def spec(self) -> Method:
        return get_method(self.method)


@dataclass
class MethodResult:
    model: nn.Module
    chip: Chip | None
    train: TrainResult | None
    metrics: dict[str, float]
    artefact: Path
    """The adapter directory, or the saved model for the full-weight methods."""


def run_method(job: MethodJob) -> MethodResult:
    """Run ``job.method`` (its registry entry's runner)."""
    result: MethodResult = job.spec.run(job)
    return result


def default_lr(method: str) -> float:
    return get_method(method).default_lr


def _require(job: MethodJob, trains: str) -> Method:
    method = job.spec
    if method.trains != trains:
        names = method_names(trains=trains)
        raise AnaloraError(
            f"--method {job.method!r} does not train {trains}s: use one of {', '.join(names)}"
        )
    return method


def _log_untrained(out: Path, method: str, metrics: dict[str, float], **extra: Any) -> None:
    record = {"method": method, "trained": False, "steps": 0, "evals": [metrics], **extra}
    atomic_write_json(out / "train_log.json", record)


def _eval_record(split: str | None, age_s: float | None, metrics: dict[str, float]) -> dict:
    return {"split": split, "age_s": age_s, "metrics": metrics}


def _trainer(job: MethodJob, model: nn.Module, evaluate: Any, post_step: Any = None) -> Trainer:
    if job.train_data is None or job.config is None:
        raise AnaloraError(f"--method {job.method} trains: it needs training data and settings")
    return Trainer(
        model,
        job.train_data,
        job.config,
        job.out,
        eval_fn=evaluate,
        post_step=post_step,
        progress=job.progress,
        device=job.device,
        accelerator=job.accelerator,
    )


def _digital_peft(job: MethodJob) -> PeftModel:
    """LoRA on the digital model: the same placement as on the analog model
    (every mappable linear but the head), the head trained in full."""
    names = [n for n, _ in mappable_layers(job.model, exclude=[job.head])]
    config = LoraConfig(
        r=job.lora.r,
        lora_alpha=job.lora.alpha,
        lora_dropout=job.lora.dropout,
        target_modules=select_targets(names, job.lora.targets),
        modules_to_save=[job.head],
    )
    peft_model = get_peft_model(job.model, config)
    use_lora_dropout(peft_model)  # the same cheaper mask as the analog methods
    return peft_model


def _analog_peft(job: MethodJob) -> tuple[PeftModel, Chip, Any]:
    """The adapter on a chip: programmed from the model unless given; the
    training mode reads the chip (``chip-lora``) or its target weights under
    generic noise (``ahwa-lora``); evaluation reads it at ``eval_age_s``."""
    chip = job.chip
    if chip is None:
        chip = program(job.model, job.hardware, seed=job.chip_seed, exclude=[job.head])
    lora = job.lora
    peft_model = add_lora(
        job.model,
        r=lora.r,
        alpha=lora.alpha,
        dropout=lora.dropout,
        targets=lora.targets,
        head=[job.head],
    )
    use_lora_dropout(peft_model)  # a cheaper mask than nn.Dropout's (adapters/dropout.py)
    score = evaluator(job.task, job.eval_data)
    bound = job.spec.chip_bound

    def train_mode() -> None:
        if bound:
            chip.read(job.chip_age_s)  # train against this chip at this age
        else:
            chip.use_target()  # generic training noise on the target weights

    def evaluate(m: nn.Module) -> dict[str, float]:
        chip.read(job.eval_age_s)
        try:
            return score(m)
        finally:
            train_mode()

    train_mode()
    return peft_model, chip, evaluate


def train_adapter(job: MethodJob) -> MethodResult:
    """Train one adapter method on a classification or question-answering
    model (converted and programmed in place for the analog methods, unless
    ``job.chip`` was programmed from it) and save the adapter, the training
    log and ``deployment.json``. ``job.init_adapter`` warm-starts the adapter
    and head from a saved analog adapter of the same base model (see
    :func:`warm_start`)."""
    method = _require(job, "adapter")
    torch.manual_seed(job.config.seed if job.config else 0)  # adapter initialisation
    chip: Chip | None = None
    digital_fp = None
    if method.analog:
        peft_model, chip, evaluate = _analog_peft(job)
    else:
        digital_fp = digital_fingerprint(job.model, job.head)  # before LoRA wraps it
        peft_model, evaluate = _digital_peft(job), evaluator(job.task, job.eval_data)
    warm = warm_start(peft_model, job.init_adapter) if job.init_adapter is not None else None
    trainer = _trainer(job, peft_model, evaluate)
    result = trainer.train(resume=job.resume)
    if not trainer.is_main:
        return MethodResult(peft_model, chip, result, {}, job.out / "adapter")
    metrics = result.evals[-1] if result.evals else evaluate(peft_model)
    adapter_dir = _save_adapter(job, method, peft_model, chip, metrics, digital_fp)
    write_deployment(job.out, _adapter_deployment(job, method, chip, result, metrics, warm))
    return MethodResult(peft_model, chip, result, metrics, adapter_dir)


def _save_adapter(
    job: MethodJob,
    method: Method,
    peft_model: PeftModel,
    chip: Chip | None,
    metrics: dict,
    digital_fp: str | None,
) -> Path:
    if not method.analog:
        assert digital_fp is not None
        return save_digital_adapter(
            peft_model,
            job.out / "adapter",
            model_fingerprint=digital_fp,
            task=job.task,
            method=job.method,
            seed=job.config.seed if job.config else 0,
            metrics=metrics,
            overwrite=True,
        )
    return save_adapter(
        peft_model,
        job.out / "adapter",
        task=job.task,
        method=job.method,
        seed=job.config.seed if job.config else 0,
        metrics=metrics,
        chip=chip if method.chip_bound else None,
        overwrite=True,
    )


def _adapter_deployment(
    job: MethodJob,
    method: Method,
    chip: Chip | None,
    result: TrainResult,
    metrics: dict[str, float],
    warm: dict[str, Any] | None,
) -> Deployment:
    chip_record = None
    if chip is not None:
        chip_record = {
            "seed": chip.seed,
            "path": str(Path(job.chip_dir).resolve()) if job.chip_dir else None,
            "fingerprint": chip.fingerprint(),
            "trained_at_age_s": job.chip_age_s if method.chip_bound else None,
        }
    return Deployment(
        kind=method.deployment_kind,
        method=job.method,
        task=job.task,
        model_path=model_reference(job.model_spec) if job.model_spec else None,
        adapter="adapter",
        hardware=job.hardware.to_dict() if method.analog and job.hardware else None,
        chip=chip_record,
        evaluation=_eval_record(job.eval_split, job.eval_age_s if method.analog else None, metrics),
        train={"steps": result.steps, "seed": result_seed(job), "init_adapter": warm},
    )


def result_seed(job: MethodJob) -> int:
    return job.config.seed if job.config is not None else 0


def init_adapter_dir(adapter_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The adapter directory ``--init-adapter`` names (an adapter, or a train
    run holding one) and its metadata, checked: an analora adapter whose files
    match their checksums. Called before a run writes anything."""
    from analora.adapters import read_adapter_meta

    d = Path(adapter_dir)
    if (d / "adapter").is_dir():
        d = d / "adapter"  # a run directory
    return d, read_adapter_meta(d)


def warm_start(peft_model: PeftModel, adapter_dir: str | Path) -> dict[str, Any]:
    """Load a saved adapter's LoRA matrices and head into ``peft_model``
    before training: re-adaptation to new hardware constraints or to an aged
    chip, or hardware-aware training that starts from a ``digital-lora``
    adapter (as the paper's full AHWA starts from the digital model). The
    adapter must come from the same base model and have the same layout
    (rank, layers, head); its hardware config may differ, which is the point.
    Returns what ``deployment.json`` records about it."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    from analora.adapters import AdapterError
    from analora.adapters.adapter_files import WEIGHTS, _base_binding

    d, meta = init_adapter_dir(adapter_dir)
    model_fp, _ = _base_binding(peft_model)
    if meta["model_fingerprint"] != model_fp:
        raise AdapterError(
            f"--init-adapter {adapter_dir} was trained on another base model: "
            "warm-start from an adapter of this model"
        )
    state = load_file(str(d / WEIGHTS))
    try:
        result: Any = set_peft_model_state_dict(peft_model, state)
    except RuntimeError:
        result = None
    if result is None or result.unexpected_keys:
        raise AdapterError(
            f"--init-adapter {adapter_dir} has another layout (rank, layers or head): "
            "train with its --rank, --targets and task"
        )
    return {
        "path": str(d.resolve()),
        "weights_sha256": meta["weights_sha256"],
        "hardware": (meta.get("hardware") or {}).get("name"),
        "hardware_fingerprint": meta["hardware_fingerprint"],
    }


def train_full(job: MethodJob) -> MethodResult:
    """``digital`` (every weight, no hardware) or ``ahwa`` (every weight under
    the hardware, analog weights clipped and re-mapped after each step) on a
    classification or question-answering model; saves the trained model to
    ``out/model``.

    For ``ahwa`` pass the ``digital`` result: the paper starts full
    hardware-aware training from the fine-tuned model. Each evaluation
    programs a chip (seed ``chip_seed``) from the current weights and reads
    it at ``eval_age_s``.
    """
    method = _require(job, "weights")
    model = job.model
    torch.manual_seed(result_seed(job))
    score = evaluator(job.task, job.eval_data)
    evaluate, post_step = score, None
    if method.analog:
        if job.hardware is None:
            raise AnaloraError(f"--method {job.method} needs a hardware config (--hardware)")
        convert(model, job.hardware, exclude=[job.head])

        def evaluate(m: nn.Module) -> dict[str, float]:
            the_chip = program(m, seed=job.chip_seed)  # the current target weights
            the_chip.read(job.eval_age_s)
            try:
                return score(m)
            finally:
                the_chip.use_target()

        post_step = post_update_step
    for p in model.parameters():
        p.requires_grad_(True)  # analog tile weights and out-scales included
    trainer = _trainer(job, model, evaluate, post_step)
    result = trainer.train(resume=job.resume)
    if not trainer.is_main:
        return MethodResult(model, None, result, {}, job.out / "model")
    metrics = result.evals[-1] if result.evals else evaluate(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if method.analog:
        model_dir = save_analog_model(
            model, job.out / "model", job.model_class, job.tokenizer, overwrite=True
        )
    else:
        model_dir = save_digital(model, job.out / "model", job.tokenizer)
    age = job.eval_age_s if method.analog else None
    write_deployment(
        job.out,
        Deployment(
            kind=method.deployment_kind,
            method=job.method,
            task=job.task,
            model_path="model",
            model_format="analog" if method.analog else "hf",
            hardware=job.hardware.to_dict() if method.analog and job.hardware else None,
            evaluation=_eval_record(job.eval_split, age, metrics)
            | ({"chip_seed": job.chip_seed} if method.analog else {}),
            train={"steps": result.steps, "seed": result_seed(job)},
        ),
    )
    return MethodResult(model, None, result, metrics, model_dir)


def save_digital(model: nn.Module, out: Path, tokenizer: Any) -> Path:
    """Save a floating-point model (and its tokenizer) atomically."""
    from analora.files import atomic_directory

    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp))  # type: ignore[operator]
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
    return out


def deploy_direct(job: MethodJob) -> MethodResult:
    """``direct``: save the (fine-tuned) model as the model to program, program
    it onto one chip with no adaptation and evaluate that chip."""
    _require(job, "nothing")
    if job.hardware is None:
        raise AnaloraError("--method direct needs a hardware config (--hardware)")
    out = job.out
    out.mkdir(parents=True, exist_ok=True)
    model_dir = save_digital(job.model, out / "model", job.tokenizer)
    chip = program(job.model, job.hardware, seed=job.chip_seed, exclude=[job.head])
    with chip.reading(job.eval_age_s):
        metrics = evaluator(job.task, job.eval_data)(job.model)
    _log_untrained(out, "direct", metrics, chip_seed=job.chip_seed, eval_age_s=job.eval_age_s)
    write_deployment(
        out,
        Deployment(
            kind="model",
            method="direct",
            task=job.task,
            model_path="model",
            hardware=job.hardware.to_dict(),
            evaluation=_eval_record(job.eval_split, job.eval_age_s, metrics)
            | {"chip_seed": job.chip_seed},
        ),
    )
    return MethodResult(job.model, chip, None, metrics, model_dir)
