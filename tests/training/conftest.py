"""A tiny BERT classifier saved as a model directory, with the MiniLM tokenizer."""

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, minilm_dir):  # type: ignore[no-untyped-def]
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
