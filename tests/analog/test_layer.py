import pytest
import torch
import torch.nn.functional as F

from analora.analog import AnalogLinear
from analora.hardware import load_hardware

W_SHAPE = (600, 1030)  # uneven input chunks, two output chunks


def _layer(
    preset: str, overrides: dict | None = None, seed: int = 0
) -> tuple[AnalogLinear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*W_SHAPE, generator=g) * 0.05
    b = torch.randn(W_SHAPE[0], generator=g) * 0.1
    return AnalogLinear.from_digital(w, b, load_hardware(preset, overrides)), w, b


def test_ideal_layer_is_the_linear_layer() -> None:
    layer, w, b = _layer("ideal")
    x = torch.randn(5, 3, W_SHAPE[1])
    assert layer.n_tiles == 6  # 3 input chunks (344, 343, 343) x 2 output chunks
    assert torch.allclose(layer(x), F.linear(x, w, b), atol=1e-5)
    assert torch.allclose(layer.weight, w)


def test_quantised_outputs_lie_on_the_adc_grid() -> None:
    hw_over = {"output_noise_std": 0.0, "learn_out_scale": False, "tile.max_inputs": 2048}
    layer, _, _ = _layer("paper-pcm", hw_over)
    layer.eval()
    x = torch.randn(8, W_SHAPE[1])
    q = layer(x) - layer.bias
    # One input chunk: q = code * step * a * r * scale_col, code integer.
    a = x.abs().amax(-1, keepdim=True)
    codes = q / (a * layer.hardware.converters.output_step * layer.mapping_scale[0])
    assert torch.allclose(codes, codes.round(), atol=2e-3)


def test_training_noise_is_fresh_and_never_stored() -> None:
    layer, _, _ = _layer("paper-pcm")
    before = layer.tile_weight.detach().clone()
    layer.train()
    x = torch.randn(4, W_SHAPE[1])
    assert not torch.equal(layer(x), layer(x))
    assert torch.equal(layer.tile_weight, before)
    layer.eval()
    # Eval on target weights still has output noise; without it, repeatable.
    quiet, _, _ = _layer("paper-pcm", {"output_noise_std": 0.0})
    quiet.eval()
    assert torch.equal(quiet(x), quiet(x))


def test_gradients_straight_through_to_inputs_only() -> None:
    layer, _, _ = _layer("paper-pcm")
    layer.train()
    x = torch.randn(6, W_SHAPE[1], requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert layer.tile_weight.grad is None
    # STE: the input gradient equals that of the digital-equivalent weight
    # (in eval, where no weight noise is drawn).
    layer.eval()
    x.grad = None
    layer(x).sum().backward()
    expected = (layer.mapping_scale.unsqueeze(-1) * layer.tile_weight).sum(dim=1)  # [n_in, c]
    got = layer.geometry.pack_input(x.grad)[0]  # [n_in, c]
    assert torch.allclose(got, expected, atol=1e-4)


def test_trainable_analog_weights_get_gradients_and_are_reclipped() -> None:
    layer, _, _ = _layer("paper-pcm")
    layer.tile_weight.requires_grad_(True)
    assert layer.out_scale is not None
    layer.out_scale.requires_grad_(True)
    layer.train()
    layer(torch.randn(6, W_SHAPE[1])).pow(2).sum().backward()
    assert layer.tile_weight.grad is not None and layer.tile_weight.grad.abs().sum() > 0
    assert layer.out_scale.grad is not None
    with torch.no_grad():
        layer.tile_weight.mul_(5.0)
        layer.out_scale.fill_(1.5)
    layer.post_update_step()
    assert layer.tile_weight.abs().amax().item() == pytest.approx(1.0)
    # The learned out-scale is digital: clip and re-map leave it alone.
    assert torch.equal(layer.out_scale, torch.full_like(layer.out_scale, 1.5))


def test_weights_are_mapped_channelwise_and_clipped() -> None:
    layer, w, _ = _layer("paper-pcm")
    tw = layer.tile_weight
    row_max = tw.abs().amax(-1)
    assert torch.allclose(row_max, torch.ones_like(row_max))
    # Clipping at 3 sigma cuts the tails of the digital weight, nothing else.
    wd = layer.digital_weight()
    inside = (wd - w).abs() < 1e-5
    assert inside.float().mean() > 0.99 and not bool(inside.all())


def test_bound_management_per_vector() -> None:
    over = {
        "output_noise_std": 0.0,
        "tile.max_inputs": 2048,
        "learn_out_scale": False,
        "clip_sigma": None,
    }
    w = torch.ones(4, 256)
    small = torch.full((1, 256), 0.01)
    small[0, 0] = 1.0  # abs-max 1, output ~ 3.55: fits the bound of 12
    big = torch.ones(1, 256)  # output 256: saturates, needs reduction
    for mode, expect_same in (("iterative", True), ("iterative-batch", False)):
        layer = AnalogLinear.from_digital(
            w, None, load_hardware("paper-pcm", {**over, "bound_management": mode})
        )
        layer.eval()
        alone = layer(small)
        together = layer(torch.cat([small, big]))
        assert torch.equal(alone, together[:1]) is expect_same, mode
        assert together[1].tolist() == pytest.approx([256.0] * 4, rel=0.02)
    clipped = AnalogLinear.from_digital(
        w, None, load_hardware("paper-pcm", {**over, "bound_management": "none"})
    )
    assert clipped(big).max().item() == pytest.approx(12.0, rel=1e-3)


def test_model_post_update_step_touches_only_trainable_layers(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    from analora.analog import analog_layers, convert, post_update_step

    convert(tiny_bert, load_hardware("paper-pcm"))
    layers = analog_layers(tiny_bert)
    frozen_before = layers[1][1].tile_weight.detach().clone()
    layers[0][1].tile_weight.requires_grad_(True)
    with torch.no_grad():
        layers[0][1].tile_weight.mul_(3.0)
        layers[1][1].tile_weight.mul_(3.0)  # a frozen layer is never re-mapped
    assert post_update_step(tiny_bert) == 1
    assert layers[0][1].tile_weight.abs().amax().item() == pytest.approx(1.0)
    assert torch.equal(layers[1][1].tile_weight, frozen_before * 3.0)
