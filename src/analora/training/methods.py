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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import Tensor, nn

from analora.adapters import add_lora, save_adapter, select_targets
from analora.analog import Chip, convert, post_update_step, program, save_analog_model
from analora.analog.convert import mappable_layers
from analora.errors import AnaloraError, did_you_mean
from analora.files import atomic_write_json
from analora.hardware import HardwareConfig
from analora.training.batching import eval_batches, unsort
from analora.training.deployment import model_reference, write_deployment
from analora.training.trainer import TrainConfig, Trainer, TrainResult

ADAPTER_METHODS = ("digital-lora", "ahwa-lora", "chip-lora")
FULL_METHODS = ("digital", "ahwa")
METHODS = ("digital", "digital-lora", "direct", "ahwa", "ahwa-lora", "chip-lora")
ANALOG_METHODS = ("direct", "ahwa", "ahwa-lora", "chip-lora")
HEADS = {"sequence-classification": "classifier", "question-answering": "qa_outputs"}
"""The digital task head of BERT-family models, by model class (``--head`` overrides)."""
# PAPER.md: 2e-4 for AHWA-LoRA, 5e-5 for full AHWA from the fine-tuned model;
# 5e-5 for a digital full fine-tune (the usual BERT range, 2e-5 ... 5e-5).
DEFAULT_LR = {"digital": 5e-5, "ahwa": 5e-5, "direct": 0.0}


@dataclass(frozen=True)
class LoraSettings:
    """The paper's adapter: rank 8, alpha 32, dropout 0.1, every analog layer."""

    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    targets: str = "all"


@dataclass
class MethodResult:
    model: nn.Module
    chip: Chip | None
    train: TrainResult | None
    metrics: dict[str, float]
    artefact: Path
    """The adapter directory, or the saved model for the full-weight methods."""


def default_lr(method: str) -> float:
    return DEFAULT_LR.get(method, 2e-4)


def check_device(method: str, device: str | torch.device) -> None:
    """The analog engine draws its noise with CPU generators: analog methods run on CPU."""
    if torch.device(device).type != "cpu" and method in ANALOG_METHODS:
        raise AnaloraError(
            f"--method {method} simulates the analog hardware, which runs on CPU only: "
            "use --device cpu (the digital methods run on a GPU)"
        )


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _tensors(tokenized: Any, targets: tuple[str, ...]) -> dict[str, Tensor]:
    cols = [c for c in (*MODEL_INPUTS, *targets) if c in tokenized.column_names]
    rows = tokenized.with_format("torch", columns=cols)[:]  # one dict of tensors
    return {c: rows[c] for c in cols}


def classification_tensors(tokenized: Any) -> dict[str, Tensor]:
    """The model inputs (ids, mask, and segment ids where the tokenizer makes
    them: sentence pairs need them) and ``labels`` of a tokenised split."""
    return _tensors(tokenized, ("labels",))


def qa_train_tensors(tokenized: Any) -> dict[str, Tensor]:
    """Model inputs and ``start_positions``/``end_positions`` of SQuAD training windows."""
    return _tensors(tokenized, ("start_positions", "end_positions"))


class QAEvaluator:
    """SQuAD exact match and F1 (0-100) of a question-answering model: logits
    per window, answers by :func:`analora.tasks.qa.postprocess`."""

    def __init__(self, examples: Any, features: Any, batch_size: int = 32) -> None:
        self.examples = examples
        self.features = features
        self.inputs = _tensors(features, ())
        self.references = {
            qid: list(a["text"]) for qid, a in zip(examples["id"], examples["answers"], strict=True)
        }
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        from analora.tasks.metrics import squad_metrics
        from analora.tasks.qa import postprocess

        model.eval()
        device = _model_device(model)
        starts, ends, rows = [], [], []
        for index, batch in eval_batches(self.inputs, self.batch_size):
            out = model(**{k: v.to(device) for k, v in batch.items()})
            # Trimmed windows give shorter logits; positions past a window's
            # end are padding, which postprocess never picks (offsets None).
            width = self.inputs["input_ids"].shape[1]
            starts.append(_pad_logits(out.start_logits.float().cpu(), width))
            ends.append(_pad_logits(out.end_logits.float().cpu(), width))
            rows.append(index)
        answers = postprocess(
            self.examples, self.features, unsort(starts, rows).numpy(), unsort(ends, rows).numpy()
        )
        return squad_metrics(answers, self.references)


def _pad_logits(logits: Tensor, width: int) -> Tensor:
    """``[N, L]`` span logits widened to ``[N, width]`` with -inf (never chosen)."""
    if logits.shape[1] == width:
        return logits
    pad = logits.new_full((logits.shape[0], width - logits.shape[1]), float("-inf"))
    return torch.cat([logits, pad], dim=1)


EvalData = dict[str, Tensor] | Callable[[nn.Module], dict[str, float]]
"""Classification tensors, or an evaluator such as :class:`QAEvaluator`."""


def _evaluator(task: str, eval_data: EvalData) -> Callable[[nn.Module], dict[str, float]]:
    if callable(eval_data):
        return eval_data
    data = eval_data
    return lambda m: evaluate_classification(m, task, data)


@torch.no_grad()
def evaluate_classification(
    model: nn.Module, task: str, data: dict[str, Tensor], batch_size: int = 64
) -> dict[str, float]:
    """The task's metrics (0-100) on tensors from :func:`classification_tensors`."""
    from analora.tasks import compute_metrics

    model.eval()
    device = _model_device(model)
    inputs = {k: v for k, v in data.items() if k != "labels"}
    logits, rows = [], []
    for index, batch in eval_batches(inputs, batch_size):
        logits.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
        rows.append(index)
    return compute_metrics(task, unsort(logits, rows).numpy(), data["labels"].numpy())


def _log_untrained(out: Path, method: str, metrics: dict[str, float], **extra: Any) -> None:
    record = {"method": method, "trained": False, "steps": 0, "evals": [metrics], **extra}
    atomic_write_json(out / "train_log.json", record)


def _eval_record(split: str | None, age_s: float | None, metrics: dict[str, float]) -> dict:
    return {"split": split, "age_s": age_s, "metrics": metrics}


def train_adapter(
    method: str,
    model: nn.Module,
    task: str,
    train_data: dict[str, Tensor],
    eval_data: EvalData,
    hardware: HardwareConfig,
    config: TrainConfig,
    out_dir: str | Path,
    lora: LoraSettings | None = None,
    head: str = "classifier",
    chip_seed: int = 0,
    chip_age_s: float = 0.0,
    eval_age_s: float = 0.0,
    chip: Chip | None = None,
    resume: bool = False,
    progress: Any = None,
    model_spec: str | None = None,
    chip_dir: str | Path | None = None,
    eval_split: str | None = None,
    device: str | torch.device = "cpu",
    accelerator: Any = None,
    init_adapter: str | Path | None = None,
) -> MethodResult:
    """Train one adapter method on a classification or question-answering
    model (converted and programmed in place for the analog methods, unless a
    ``chip`` programmed from it is given) and save the adapter.

    ``model_spec`` (the base model as the user named it) and ``chip_dir``
    (a saved chip) go into ``deployment.json`` so the deployment can be rebuilt.
    ``init_adapter`` warm-starts the adapter and head from a saved analog
    adapter of the same base model (see :func:`warm_start`).
    """
    if method not in ADAPTER_METHODS:
        raise AnaloraError(
            f"--method {method!r} is not an adapter method: use one of "
            f"{', '.join(ADAPTER_METHODS)}{did_you_mean(method, ADAPTER_METHODS)}"
        )
    check_device(method, device if accelerator is None else accelerator.device)
    lora = lora or LoraSettings()
    out = Path(out_dir)
    score = _evaluator(task, eval_data)
    torch.manual_seed(config.seed)  # adapter initialisation
    if method == "digital-lora":
        # The same placement as on the analog model: every mappable linear but the head.
        names = [n for n, _ in mappable_layers(model, exclude=[head])]
        config_ = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=select_targets(names, lora.targets),
            modules_to_save=[head],
        )
        peft_model: PeftModel = get_peft_model(model, config_)
        chip = None
        evaluate = score

    else:
        if chip is None:
            chip = program(model, hardware, seed=chip_seed, exclude=[head])
        peft_model = add_lora(
            model,
            r=lora.r,
            alpha=lora.alpha,
            dropout=lora.dropout,
            targets=lora.targets,
            head=[head],
        )
        the_chip = chip

        def train_mode() -> None:
            if method == "chip-lora":
                the_chip.read(chip_age_s)  # train against this chip at this age
            else:
                the_chip.use_target()  # generic training noise on the target weights

        def evaluate(m: nn.Module) -> dict[str, float]:
            the_chip.read(eval_age_s)
            try:
                return score(m)
            finally:
                train_mode()

        train_mode()
    warm = warm_start(peft_model, init_adapter) if init_adapter is not None else None
    trainer = Trainer(
        peft_model,
        train_data,
        config,
        out,
        eval_fn=evaluate,
        progress=progress,
        device=device,
        accelerator=accelerator,
    )
    result = trainer.train(resume=resume)
    if not trainer.is_main:
        return MethodResult(peft_model, chip, result, {}, out / "adapter")
    metrics = result.evals[-1] if result.evals else evaluate(peft_model)
    if method == "digital-lora":
        adapter_dir = out / "adapter"
        peft_model.save_pretrained(str(adapter_dir))  # no analog base to bind to
    else:
        adapter_dir = save_adapter(
            peft_model,
            out / "adapter",
            task=task,
            method=method,
            seed=config.seed,
            metrics=metrics,
            chip=chip if method == "chip-lora" else None,
            overwrite=True,
        )
    analog = method != "digital-lora"
    assert chip is not None or not analog
    write_deployment(
        out,
        {
            "kind": "adapter" if analog else "digital",
            "method": method,
            "task": task,
            "model": {
                "path": model_reference(model_spec) if model_spec else None,
                "format": "hf",
            },
            "adapter": "adapter",
            "hardware": hardware.to_dict() if analog else None,
            "chip": {
                "seed": chip.seed,
                "path": str(Path(chip_dir).resolve()) if chip_dir else None,
                "fingerprint": chip.fingerprint(),
                "trained_at_age_s": chip_age_s if method == "chip-lora" else None,
            }
            if chip is not None
            else None,
            "eval": _eval_record(eval_split, eval_age_s if analog else None, metrics),
            "train": {"steps": result.steps, "seed": config.seed, "init_adapter": warm},
        },
    )
    return MethodResult(peft_model, chip, result, metrics, adapter_dir)


def warm_start(peft_model: PeftModel, adapter_dir: str | Path) -> dict[str, Any]:
    """Load a saved analog adapter's LoRA matrices and head into ``peft_model``
    before training (re-adaptation to new hardware constraints, or to an
    aged chip). The adapter must come from the same base model and have the
    same layout (rank, layers, head); its hardware config may differ, which
    is the point. Returns what ``deployment.json`` records about it."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    from analora.adapters import AdapterError, read_adapter_meta
    from analora.adapters.store import WEIGHTS, _base_binding

    d = Path(adapter_dir)
    if (d / "adapter").is_dir():
        d = d / "adapter"  # a run directory
    meta = read_adapter_meta(d)
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


def train_full(
    method: str,
    model: nn.Module,
    task: str,
    train_data: dict[str, Tensor],
    eval_data: EvalData,
    hardware: HardwareConfig | None,
    config: TrainConfig,
    out_dir: str | Path,
    head: str = "classifier",
    chip_seed: int = 0,
    eval_age_s: float = 0.0,
    resume: bool = False,
    progress: Any = None,
    tokenizer: Any = None,
    eval_split: str | None = None,
    device: str | torch.device = "cpu",
    accelerator: Any = None,
    model_class: str = "sequence-classification",
) -> MethodResult:
    """``digital`` (every weight, no hardware) or ``ahwa`` (every weight under
    the hardware, analog weights clipped and re-mapped after each step) on a
    classification or question-answering model (``model_class``); saves the
    trained model to ``out/model``.

    For ``ahwa`` pass the ``digital`` result: the paper starts full
    hardware-aware training from the fine-tuned model. Each evaluation
    programs a chip (seed ``chip_seed``) from the current weights and reads
    it at ``eval_age_s``.
    """
    if method not in FULL_METHODS:
        raise AnaloraError(
            f"--method {method!r} is not a full-weight method: use one of "
            f"{', '.join(FULL_METHODS)}{did_you_mean(method, FULL_METHODS)}"
        )
    check_device(method, device if accelerator is None else accelerator.device)
    out = Path(out_dir)
    score = _evaluator(task, eval_data)
    torch.manual_seed(config.seed)
    chip: Chip | None = None
    if method == "digital":
        for p in model.parameters():
            p.requires_grad_(True)
        evaluate = score
        post_step = None
    else:
        if hardware is None:
            raise AnaloraError("--method ahwa needs a hardware config (--hardware)")
        convert(model, hardware, exclude=[head])
        for p in model.parameters():
            p.requires_grad_(True)  # analog tile weights and out-scales included

        def evaluate(m: nn.Module) -> dict[str, float]:
            the_chip = program(m, seed=chip_seed)  # the current target weights
            the_chip.read(eval_age_s)
            try:
                return score(m)
            finally:
                the_chip.use_target()

        post_step = post_update_step
    trainer = Trainer(
        model,
        train_data,
        config,
        out,
        eval_fn=evaluate,
        post_step=post_step,
        progress=progress,
        device=device,
        accelerator=accelerator,
    )
    result = trainer.train(resume=resume)
    if not trainer.is_main:
        return MethodResult(model, None, result, {}, out / "model")
    metrics = result.evals[-1] if result.evals else evaluate(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if method == "digital":
        model_dir = _save_digital(model, out / "model", tokenizer)
    else:
        model_dir = save_analog_model(model, out / "model", model_class, tokenizer, overwrite=True)
    write_deployment(
        out,
        {
            "kind": "digital" if method == "digital" else "model",
            "method": method,
            "task": task,
            "model": {"path": "model", "format": "hf" if method == "digital" else "analog"},
            "adapter": None,
            "hardware": hardware.to_dict() if method == "ahwa" and hardware else None,
            "chip": None,
            "eval": _eval_record(eval_split, eval_age_s if method == "ahwa" else None, metrics)
            | ({"chip_seed": chip_seed} if method == "ahwa" else {}),
            "train": {"steps": result.steps, "seed": config.seed},
        },
    )
    return MethodResult(model, chip, result, metrics, model_dir)


def _save_digital(model: nn.Module, out: Path, tokenizer: Any) -> Path:
    from analora.files import atomic_directory

    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp))  # type: ignore[operator]
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
    return out


def deploy_direct(
    model: nn.Module,
    task: str,
    eval_data: EvalData,
    hardware: HardwareConfig,
    out_dir: str | Path,
    head: str = "classifier",
    chip_seed: int = 0,
    eval_age_s: float = 0.0,
    tokenizer: Any = None,
    eval_split: str | None = None,
) -> MethodResult:
    """``direct``: save the (fine-tuned) model as the model to program, program
    it onto one chip with no adaptation and evaluate that chip."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = _save_digital(model, out / "model", tokenizer)
    chip = program(model, hardware, seed=chip_seed, exclude=[head])
    with chip.reading(eval_age_s):
        metrics = _evaluator(task, eval_data)(model)
    _log_untrained(out, "direct", metrics, chip_seed=chip_seed, eval_age_s=eval_age_s)
    write_deployment(
        out,
        {
            "kind": "model",
            "method": "direct",
            "task": task,
            "model": {"path": "model", "format": "hf"},
            "adapter": None,
            "hardware": hardware.to_dict(),
            "chip": None,
            "eval": _eval_record(eval_split, eval_age_s, metrics) | {"chip_seed": chip_seed},
            "train": None,
        },
    )
    return MethodResult(model, chip, None, metrics, model_dir)
