"""Parameter and memory accounting: hand-computed values and refusals."""

from __future__ import annotations

import pytest

from analora.cost import (
    CostError,
    LayerShape,
    account_model,
    classifier_head_params,
    compare_bank,
    lora_params,
    params_bytes,
    shapes_from_model,
    tiles_for_layer,
)
from analora.cost.accounting import parse_shapes, unique_shapes


def minilm_shapes() -> list[LayerShape]:
    """all-MiniLM-L6-v2 as 'base': 6 layers of Q, K, V, O (384 x 384), FFN in
    (384 x 1536) and out (1536 x 384), then the pooler (384 x 384)."""
    per_layer = [(384, 384)] * 4 + [(384, 1536), (1536, 384)]
    return [LayerShape(i, o) for _ in range(6) for i, o in per_layer] + [LayerShape(384, 384)]


@pytest.mark.parametrize(
    ("in_f", "out_f", "tile", "tiles"),
    [
        (384, 384, 512, 1),  # ceil(384/512) * ceil(384/512) = 1 * 1
        (384, 1536, 512, 3),  # 1 * ceil(1536/512) = 1 * 3
        (1536, 384, 512, 3),  # 3 * 1
        (1024, 1024, 512, 4),  # 2 * 2
        (513, 512, 512, 2),  # ceil(513/512) = 2, times 1
        (384, 384, 256, 4),  # ceil(384/256) = 2 on each side: 2 * 2
    ],
)
def test_tiles_for_layer(in_f: int, out_f: int, tile: int, tiles: int) -> None:
    assert tiles_for_layer(in_f, out_f, max_inputs=tile, max_outputs=tile) == tiles


def test_tiles_agree_with_the_tile_geometry() -> None:
    from analora.analog.tiles import TileGeometry

    for in_f, out_f in [(384, 384), (384, 1536), (1536, 384), (600, 64), (1025, 3)]:
        geometry = TileGeometry.for_layer(in_f, out_f, 512, 512)
        assert tiles_for_layer(in_f, out_f) == geometry.n_tiles


def test_lora_and_head_params() -> None:
    assert lora_params(384, 384, 8) == 6_144  # 8 * (384 + 384)
    assert lora_params(384, 1536, 8) == 15_360  # 8 * (384 + 1536)
    assert lora_params(1536, 384, 16) == 30_720  # 16 * 1920
    assert classifier_head_params(384, 2) == 770  # (384 + 1) * 2
    assert classifier_head_params(768, 3) == 2_307  # 769 * 3
    assert params_bytes(338_690) == 677_380  # 2 bytes per FP16 parameter
    assert params_bytes(10, bytes_per_param=4) == 40


def test_minilm_account_by_hand() -> None:
    account = account_model(minilm_shapes(), digital_params=11_974_656, rank=8, head_params=770)
    # per layer: 4 * 384^2 + 2 * 384 * 1536 = 589,824 + 1,179,648 = 1,769,472;
    # 6 layers = 10,616,832, + pooler 147,456 = 10,764,288
    assert account.analog_params == 10_764_288
    assert account.tiles == 61  # 6 * (4 + 3 + 3) + 1
    # LoRA per layer: 4 * 6,144 + 2 * 15,360 = 55,296; 6 layers 331,776 + pooler 6,144
    assert account.lora_params == 337_920
    assert account.adapter_params == 338_690  # + head 770
    assert account.adapter_bytes == 677_380
    assert account.analog_fraction == pytest.approx(10_764_288 / 22_738_944)


def test_bank_against_n_models_by_hand() -> None:
    # A = 10 * 10 = 100 analog, D = 50 digital, L = 1 * (10 + 10) = 20, H = 5, N = 4
    account = account_model([LayerShape(10, 10)], digital_params=50, rank=1, head_params=5)
    bank = compare_bank(account, 4, devices_per_weight=2)
    assert bank.analog_params == (100, 400)
    assert bank.devices == (200, 800)
    assert bank.tiles == (1, 4)
    assert bank.programming_events == (1, 4)
    assert bank.digital_params == (50 + 4 * 25, 4 * (50 + 5))  # (150, 220)
    assert bank.stored_params == (100 + 50 + 4 * 25, 4 * (100 + 50 + 5))  # (250, 620)
    assert bank.stored_bytes == (500, 1240)
    assert bank.to_dict()["devices"] == {"one_chip": 200, "n_models": 800}


def test_shapes_from_a_converted_model(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    from analora.analog.convert import conversion_report
    from analora.hardware import load_hardware

    shapes, digital = shapes_from_model(tiny_bert, load_hardware("paper-pcm"))
    report = conversion_report(tiny_bert)
    assert report is not None and digital == report.digital_params
    account = account_model(shapes, digital_params=digital)
    # 2 layers of 4 * 64^2 + 2 * 64 * 600 = 93,184, pooler 4,096, classifier 64 * 3 = 192
    assert account.analog_params == report.analog_params == 190_656
    # per layer 4 + ceil(600/512) + ceil(600/512) = 8; 2 layers, pooler, classifier
    assert account.tiles == report.tiles == 18
    # read again: a converted model is not converted twice
    assert shapes_from_model(tiny_bert, load_hardware("paper-pcm"))[0] == shapes


def test_parse_and_group_shapes() -> None:
    shapes = parse_shapes("384x384, 384X1536,384x384")
    pairs = [(s.in_features, s.out_features) for s in shapes]
    assert pairs == [(384, 384), (384, 1536), (384, 384)]
    assert [(s.label, n) for s, n in unique_shapes(shapes)] == [("384x384", 2), ("384x1536", 1)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lora_params(384, 384, -1), "rank=-1 is invalid: give an integer >= 1 (--rank)"),
        (lambda: lora_params(384, 384, 0), "rank=0 is invalid"),
        (lambda: lora_params(384, 384, 2.0), "rank=2.0 is invalid"),
        (lambda: tiles_for_layer(384, 384, max_inputs=0), "max_inputs=0 is invalid"),
        (lambda: classifier_head_params(384, 0), "num_labels=0 is invalid"),
        (lambda: LayerShape(0, 384), "in_features=0 is invalid: give an integer >= 1"),
        (lambda: LayerShape(384, True), "out_features=True is invalid"),
        (lambda: account_model([], digital_params=0), "no analog layers"),
        (
            lambda: account_model([LayerShape(2, 2)], digital_params=-1),
            "digital_params=-1 is invalid: give an integer >= 0 (--digital-params)",
        ),
        (
            lambda: compare_bank(account_model([LayerShape(2, 2)], digital_params=0), 0),
            "tasks=0 is invalid: give an integer >= 1 (--tasks)",
        ),
        (lambda: parse_shapes("384x"), "--shapes entry '384x' is not IN x OUT"),
        (lambda: parse_shapes("384*384"), "is not IN x OUT"),
        (lambda: parse_shapes("0x384"), "in_features=0 is invalid"),
    ],
)
def test_refusals(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CostError) as info:
        call()
    assert message in str(info.value)
    assert "\n" not in str(info.value)
