"""The engine on any device: every tensor it makes follows the input's device,
its generators live there, and a chip moves with ``Chip.to``.

Without a GPU these run on the CPU under ``torch.device("meta")`` as the
default device: any tensor the engine creates without naming the input's
device lands on ``meta`` and the forward pass fails on mixing devices. The
CUDA tests compare CPU and GPU statistics (not bits: each device type has
its own generator) and run only where CUDA is available.
"""

from __future__ import annotations

import copy

import pytest
import torch

from analora import load_hardware, program, seeds
from analora.analog import AnalogLinear, convert
from analora.analog.mvm import analog_forward

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _saturating_layer(
    preset: str = "paper-pcm", **over: object
) -> tuple[AnalogLinear, torch.Tensor]:
    """A layer whose outputs clip the ADC for all-positive inputs, so that
    bound management runs (positive weights summed over 600 inputs)."""
    g = torch.Generator().manual_seed(0)
    w = torch.rand(300, 600, generator=g)
    layer = AnalogLinear.from_digital(w, torch.zeros(300), load_hardware(preset, over or None))
    x = torch.rand(16, 600, generator=g) + 0.5
    return layer, x


def _converted(tiny_bert):  # type: ignore[no-untyped-def]
    m = copy.deepcopy(tiny_bert)
    convert(m, load_hardware("paper-pcm"), exclude=["classifier"])
    return m


def test_no_tensor_is_made_off_the_input_device(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    layer, x = _saturating_layer()
    model = _converted(tiny_bert)
    with torch.device("meta"):  # a missing device= would put a tensor on meta
        chip = program(model, seed=1)
        chip.read(3600.0)
        logits = model(input_ids=ids).logits
        chip.use_target()
        model.train()
        model(input_ids=ids).logits.sum().backward()
        layer.train()
        x.requires_grad_(True)
        layer(x).sum().backward()  # bound management runs: outputs clip
        for masked in (False, True):
            analog_forward(
                layer.geometry.pack_input(x.detach()),
                layer.tile_weight,
                layer.settings,
                masked_bm=masked,
            )
    assert logits.device.type == "cpu" and torch.isfinite(logits).all()
    assert x.grad is not None and x.grad.device.type == "cpu"


def test_masked_bound_management_matches_the_gathered_one() -> None:
    layer, x = _saturating_layer(output_noise_std=0.0)
    xp = layer.geometry.pack_input(x)
    plain = analog_forward(xp, layer.tile_weight, layer.settings, masked_bm=False)
    q1, f1, m1 = plain[0].clone(), plain[1], plain[2]
    q2, f2, m2 = analog_forward(xp, layer.tile_weight, layer.settings, masked_bm=True)
    a = xp.abs().amax(-1, keepdim=True).transpose(0, 1) * layer.settings.output_step
    assert (f1 > 1.5 * a).any()  # bound management reduced some rows
    # Without output noise the two give the same outputs (a GEMM over a row
    # subset may round differently in the last bit: allow rare 1-code moves).
    assert torch.equal(f1, f2)
    assert m2 is not None and torch.equal(m2, m1 if m1 is not None else torch.ones_like(m2))
    assert ((q1 - q2).abs() > 1).sum() == 0 and ((q1 - q2).abs() > 0).float().mean() < 1e-3


def test_masked_bound_management_has_the_same_statistics() -> None:
    layer, x = _saturating_layer()
    xp = layer.geometry.pack_input(x.repeat(8, 1))
    outs = []
    for masked in (False, True):
        q, f, _ = analog_forward(
            xp, layer.tile_weight, layer.settings, seeds.generator("bm", masked), masked_bm=masked
        )
        outs.append(q * f)
    ideal = xp.reshape(xp.shape[0], -1) @ layer.geometry.unpack_weight(layer.tile_weight).T
    err = [(o.sum(0) - ideal).flatten() for o in outs]
    assert abs(err[0].std() / err[1].std() - 1) < 0.05
    assert abs(err[0].mean() - err[1].mean()) < 0.05 * err[0].std()


def test_generators_and_draws_follow_the_device() -> None:
    g = seeds.generator("x", 1, device="cpu")
    assert g.device.type == "cpu"
    assert torch.equal(seeds.randn((5,), g), seeds.randn((5,), seeds.generator("x", 1)))
    with pytest.raises(ValueError, match="create the generator on the tensor's device"):
        seeds.randn((5,), seeds.generator("x"), device="meta")
    assert seeds.randn((3,), None, device="meta").device.type == "meta"


def test_chip_to_moves_model_and_state(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    chip = program(_converted(tiny_bert), seed=2)
    chip.read(60.0)
    gens = {id(layer.generator) for _, layer in chip.layers()}
    chip.to("cpu")  # an installed read gets a fresh generator on the device
    assert {id(layer.generator) for _, layer in chip.layers()}.isdisjoint(gens)
    assert all(layer.generator.device.type == "cpu" for _, layer in chip.layers())  # type: ignore[union-attr]
    chip.use_target()  # (meta has no generator: move the chip in training mode)
    chip.to("meta")
    assert chip.tensor_device.type == "meta"
    assert all(t.device.type == "meta" for st in chip.state.values() for t in st.values())
    assert all(p.device.type == "meta" for p in chip.model.parameters())


def test_same_seed_same_device_same_bits(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    outs = []
    for _ in range(2):
        chip = program(_converted(tiny_bert), seed=5)
        chip.read(3600.0, read_index=1)
        outs.append((chip.fingerprint(), chip.model(input_ids=ids).logits))
    assert outs[0][0] == outs[1][0] and torch.equal(outs[0][1], outs[1][1])


@cuda
def test_cuda_layer_statistics_match_the_cpu() -> None:
    layer, x = _saturating_layer()
    x = torch.randn(4096, 600, generator=torch.Generator().manual_seed(3))
    ideal = x @ layer.digital_weight().T + layer.bias.detach()
    layer.eval()
    errs = []
    for dev in ("cpu", "cuda"):
        lay = copy.deepcopy(layer).to(dev)
        lay.generator = seeds.generator("stats", device=dev)
        with torch.no_grad():
            errs.append((lay(x.to(dev)).cpu() - ideal).flatten())
    assert abs(errs[0].std() / errs[1].std() - 1) < 0.02
    assert abs(errs[0].mean() - errs[1].mean()) < 0.02 * errs[0].std()


@cuda
def test_cuda_chip_statistics_match_the_cpu(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    base = _converted(tiny_bert)
    drift = []
    for dev in ("cpu", "cuda"):
        model = copy.deepcopy(base).to(dev)
        chip = program(model, seed=0)
        again = program(copy.deepcopy(base).to(dev), seed=0)
        assert chip.fingerprint() == again.fingerprint()  # same device: same bits
        chip.read(86400.0)
        ws = [(layer.chip_weight - layer.tile_weight).cpu().flatten() for _, layer in chip.layers()]
        drift.append(torch.cat(ws))
    assert abs(drift[0].std() / drift[1].std() - 1) < 0.02
    assert abs(drift[0].mean() - drift[1].mean()) < 0.02 * drift[0].std()
