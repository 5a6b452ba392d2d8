"""How a sequence-classification head sees the sentence: the first token
through the model's pooler (``cls``, BERT's own), or the mean of the token
states under the attention mask (``mean``).

Sentence-embedding models are trained with mean pooling, and their BERT
pooler is left as it was: in the packaged all-MiniLM-L6-v2 the pooler's
weights have a standard deviation of 0.009 (against 0.02 at initialisation)
and its outputs one of 0.064, and a logistic-regression probe on frozen
SST-2 features (3,000 training sentences, full dev set) scores 66.2 % on the
pooler's output, 73.6 % on the first token and 79.2 % on the mean of the
tokens (``docs/recipes.md``). ``auto`` therefore takes the pooling a model
declares (sentence-transformers' ``1_Pooling/config.json``), else ``cls``.

``mean`` is applied with two forward hooks (the attention mask is kept when
the encoder is called; the pooler's output is replaced by the masked mean),
so the module tree, the state dict, chips and adapters stay as they are.
The pooling is recorded in ``run.json`` and applied again wherever the run's
model is rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from analora.errors import AnaloraError

POOLINGS = ("auto", "cls", "mean")


def declared_pooling(model_dir: str | Path) -> str:
    """``mean`` when a local model declares mean pooling (sentence-transformers
    layout), else ``cls``."""
    config = Path(model_dir) / "1_Pooling" / "config.json"
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cls"
    return "mean" if settings.get("pooling_mode_mean_tokens") else "cls"


def resolve_pooling(pooling: str | None, model_dir: str | Path) -> str:
    """``cls`` or ``mean`` for a ``--pooling`` value (None means ``auto``)."""
    pooling = pooling or "auto"
    if pooling not in POOLINGS:
        raise AnaloraError(f"--pooling {pooling!r} is unknown: use one of {', '.join(POOLINGS)}")
    return declared_pooling(model_dir) if pooling == "auto" else pooling


def masked_mean(hidden: Tensor, mask: Tensor | None) -> Tensor:
    """``[N, L, H]`` token states -> ``[N, H]``, the mean over the tokens
    the mask keeps (over all tokens without a mask)."""
    if mask is None:
        return hidden.mean(dim=1)
    keep = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


def apply_pooling(model: nn.Module, pooling: str) -> nn.Module:
    """Make ``model`` (a Hugging Face model with a ``pooler``, before or
    after peft wrapping or analog conversion) pool with ``pooling``; a no-op
    for ``cls`` and when already applied."""
    if pooling == "cls":
        return model
    if pooling != "mean":
        raise AnaloraError(f"pooling {pooling!r} is unknown: use cls or mean")
    encoder = _encoder(model)
    pooler = getattr(encoder, "pooler", None)
    if pooler is None:
        raise AnaloraError(f"{type(model).__name__} has no pooler to replace: pass --pooling cls")
    if getattr(pooler, "analora_pooling", None) == pooling:
        return model
    state: dict[str, Any] = {}

    def keep_mask(module: nn.Module, args: tuple, kwargs: dict) -> None:
        state["mask"] = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)

    def mean_pool(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        return masked_mean(args[0], state.get("mask"))

    encoder.register_forward_pre_hook(keep_mask, with_kwargs=True)
    pooler.register_forward_hook(mean_pool)
    pooler.analora_pooling = pooling
    return model


def _encoder(model: nn.Module) -> nn.Module:
    """The encoder module holding the pooler (``model.bert`` for BERT)."""
    inner: Any = model
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    prefix = getattr(inner, "base_model_prefix", "")
    return getattr(inner, prefix, inner) if prefix else inner
