"""Conversion of encoder, bottleneck-encoder and decoder models built from small configs."""

import copy

import pytest
import torch
from torch import nn

from analora.analog import AnalogLinear, analog_layers, convert
from analora.errors import AnaloraError
from analora.hardware import load_hardware


def _linear_names(model: nn.Module) -> set[str]:
    return {
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"
    }


def _mobilebert():  # type: ignore[no-untyped-def]
    from transformers import MobileBertConfig, MobileBertForSequenceClassification

    cfg = MobileBertConfig(
        vocab_size=100,
        hidden_size=64,
        embedding_size=32,
        intra_bottleneck_size=32,
        true_hidden_size=32,
        num_attention_heads=4,
        intermediate_size=64,
        num_hidden_layers=2,
        num_feedforward_networks=2,
        max_position_embeddings=32,
    )
    return MobileBertForSequenceClassification(cfg)


def _gpt2():  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(
        GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=32)
    )


def _llama():  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(cfg)


def _bert():  # type: ignore[no-untyped-def]
    from transformers import BertConfig, BertForSequenceClassification

    return BertForSequenceClassification(
        BertConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=32,
        )
    )


@pytest.mark.parametrize(
    "build", [_bert, _mobilebert, _gpt2, _llama], ids=["bert", "mobilebert", "gpt2", "llama"]
)
def test_every_linear_is_mapped_and_ideal_is_exact(build) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = build().eval()
    names = _linear_names(model)
    ids = torch.randint(0, 100, (2, 10))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
    report = convert(model, load_hardware("ideal"))
    assert {layer.name for layer in report.layers} == names
    assert {n for n, _ in analog_layers(model)} == names
    assert report.analog_params + report.digital_params == sum(
        p.numel() for p in model.parameters()
    )
    with torch.no_grad():
        out = model(input_ids=ids).logits
    assert (out - ref).abs().max().item() < 1e-4


def test_mobilebert_bottleneck_and_embedding_transformation_are_analog() -> None:
    model = _mobilebert()
    convert(model, load_hardware("paper-pcm"))
    names = {n for n, _ in analog_layers(model)}
    assert "mobilebert.embeddings.embedding_transformation" in names
    assert any(".bottleneck.input.dense" in n for n in names)
    assert any(".bottleneck.attention.dense" in n for n in names)


def test_include_exclude_patterns() -> None:
    model = _bert()
    rep = convert(
        copy.deepcopy(model), load_hardware("paper-pcm"), exclude=["classifier", "*.pooler.*"]
    )
    assert all(
        not n.startswith(("classifier", "bert.pooler")) for n in (lay.name for lay in rep.layers)
    )
    rep = convert(copy.deepcopy(model), load_hardware("paper-pcm"), include=["*.attention.self.*"])
    assert {lay.name.rsplit(".", 1)[1] for lay in rep.layers} == {"query", "key", "value"}
    with pytest.raises(AnaloraError, match="no linear layers"):
        convert(copy.deepcopy(model), load_hardware("paper-pcm"), include=["nothing*"])


def test_report_counts_tiles_and_params(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    rep = convert(tiny_bert, load_hardware("paper-pcm"))
    inter = next(lay for lay in rep.layers if lay.name.endswith("0.intermediate.dense"))
    out = next(lay for lay in rep.layers if lay.name.endswith("0.output.dense"))
    assert (inter.tiles, out.tiles) == (2, 2)  # 600 outputs, then 600 inputs, over 512
    assert rep.tiles == sum(lay.tiles for lay in rep.layers)
    assert 0 < rep.analog_fraction < 1
    assert isinstance(tiny_bert.classifier, AnalogLinear)
    with pytest.raises(AnaloraError, match="already converted"):
        convert(tiny_bert, load_hardware("paper-pcm"))
