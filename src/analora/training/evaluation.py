"""Evaluation of a model on a task's dev tensors: classification metrics, and
SQuAD exact match and F1. Batches are sorted by length and cut to their
longest row (:mod:`analora.training.batching`); results come back in the
split's order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from analora.training.batching import eval_batches, unsort


def model_device(model: nn.Module) -> torch.device:
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
        device = model_device(model)
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


def evaluator(task: str, eval_data: EvalData) -> Callable[[nn.Module], dict[str, float]]:
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
    device = model_device(model)
    inputs = {k: v for k, v in data.items() if k != "labels"}
    logits, rows = [], []
    for index, batch in eval_batches(inputs, batch_size):
        logits.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
        rows.append(index)
    return compute_metrics(task, unsort(logits, rows).numpy(), data["labels"].numpy())
