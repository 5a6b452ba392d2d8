"""Zero-shot multiple-choice scoring by log-likelihood, as lm-eval scores it.

For each (context, continuation) pair (lm-eval 0.4, ``HFLM._encode_pair`` and
``_loglikelihood_tokens``): trailing spaces of the context move to the
continuation; the whole string is tokenised without special tokens, the
context alone likewise, and the continuation's tokens are the whole's after
the context's; the model reads context + continuation (left-truncated to its
maximum length, last token dropped) and the continuation's log-likelihood is
the sum of its tokens' log-probabilities. ``acc`` takes the choice of highest
log-likelihood; ``acc_norm`` divides each by the choice's length in
characters first (lm-eval ``ConfigurableTask.process_results``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from analora.llm.benchmarks import MCItem


@dataclass(frozen=True)
class Encoded:
    context: tuple[int, ...]
    continuation: tuple[int, ...]


def encode_pair(tokenizer: Any, context: str, continuation: str) -> Encoded:
    """Token ids of a pair, split as lm-eval splits them."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    return Encoded(tuple(whole[: len(ctx)]), tuple(whole[len(ctx) :]))


def _max_length(model: nn.Module, default: int = 2048) -> int:
    cfg = getattr(model, "config", None)
    return int(getattr(cfg, "max_position_embeddings", default) or default)


@torch.no_grad()
def loglikelihoods(
    model: nn.Module,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 8,
    max_length: int | None = None,
) -> list[tuple[float, bool]]:
    """(log-likelihood, is greedy) of each continuation given its context."""
    model.eval()
    limit = max_length or _max_length(model)
    encoded = [encode_pair(tokenizer, c, x) for c, x in pairs]
    seqs = [(e.context + e.continuation)[-(limit + 1) :][:-1] for e in encoded]
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))  # similar lengths batch
    device = next(model.parameters()).device
    out: list[tuple[float, bool]] = [(0.0, False)] * len(seqs)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(seqs[i]) for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
            mask[row, : len(seqs[i])] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(idx):
            out[i] = _continuation_score(logp[row], len(seqs[i]), encoded[i].continuation)
    return out


def _continuation_score(logp: Tensor, length: int, cont: tuple[int, ...]) -> tuple[float, bool]:
    n = len(cont)
    part = logp[length - n : length]  # positions predicting the continuation
    target = torch.tensor(cont)
    ll = float(part.gather(1, target.unsqueeze(1)).sum())
    return ll, bool((part.argmax(dim=-1) == target).all())


def item_scores(item: MCItem, lls: Sequence[float]) -> dict[str, float]:
    """``acc`` and ``acc_norm`` (0 or 1) of one item from its choices' log-likelihoods."""
    lengths = torch.tensor([float(len(c)) for c in item.choices], dtype=torch.float64)
    values = torch.tensor(list(lls), dtype=torch.float64)
    return {
        "acc": float(int(values.argmax()) == item.label),
        "acc_norm": float(int((values / lengths).argmax()) == item.label),
    }


def score_items(
    model: nn.Module, tokenizer: Any, items: Sequence[MCItem], batch_size: int = 8
) -> dict[str, float]:
    """Mean ``acc`` and ``acc_norm`` (0-100) over items, and their number."""
    pairs = [(c, x) for it in items for c, x in zip(it.contexts, it.continuations, strict=True)]
    results = loglikelihoods(model, tokenizer, pairs, batch_size)
    totals = {"acc": 0.0, "acc_norm": 0.0}
    k = 0
    for it in items:
        lls = [ll for ll, _ in results[k : k + len(it.choices)]]
        k += len(it.choices)
        for key, value in item_scores(it, lls).items():
            totals[key] += value
    n = max(len(items), 1)
    return {
        "acc": 100.0 * totals["acc"] / n,
        "acc_norm": 100.0 * totals["acc_norm"] / n,
        "items": float(len(items)),
    }
