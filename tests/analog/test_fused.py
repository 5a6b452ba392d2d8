"""The fused CPU kernels against the torch path: same statistics (not the
same bits: the kernels draw their output noise from Philox counters), same
bits on any thread count, and a logged fallback without a compiler."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
import torch

from analora import fused, load_hardware, seeds
from analora.analog import AnalogLinear

needs_kernels = pytest.mark.skipif(fused.load() is None, reason="no C++ compiler")


def _layer(
    bits: int, out: int = 384, inp: int = 1030, weight_noise: float = 0.067
) -> tuple[AnalogLinear, torch.Tensor]:
    g = torch.Generator().manual_seed(bits)
    w = torch.randn(out, inp, generator=g) * 0.05
    over = {
        "converters.dac_bits": bits,
        "converters.adc_bits": bits,
        "training.weight_noise_std": weight_noise,
    }
    layer = AnalogLinear.from_digital(
        w, torch.randn(out, generator=g), load_hardware("paper-pcm", over)
    )
    return layer.eval(), torch.randn(2048, inp, generator=g)


def _errors(layer: AnalogLinear, x: torch.Tensor, use_fused: bool) -> torch.Tensor:
    ideal = x @ layer.digital_weight().T + layer.bias
    layer.generator = seeds.generator("fused-test")
    with torch.no_grad(), fused.kernels(use_fused):
        return (layer(x) - ideal).flatten()


@needs_kernels
@pytest.mark.parametrize("bits", [8, 6])
def test_fused_and_torch_paths_have_the_same_statistics(bits: int) -> None:
    layer, x = _layer(bits)
    e_torch, e_fused = _errors(layer, x, False), _errors(layer, x, True)
    assert not torch.equal(e_torch, e_fused)  # really two paths
    n = e_torch.numel()
    sd = e_torch.std().item()
    assert abs(e_fused.std().item() / sd - 1) < 0.01
    assert abs(e_fused.mean().item() - e_torch.mean().item()) < 5 * sd / n**0.5
    # Tails: the fraction beyond 2.5 sigma of the error (noise, DAC and ADC).
    tail = [(e.abs() > 2.5 * sd).float().mean().item() for e in (e_torch, e_fused)]
    assert abs(tail[0] - tail[1]) < 0.1 * tail[0]


@needs_kernels
def test_fused_output_noise_is_standard_normal() -> None:
    # Without quantisation and weights, the output is the noise alone.
    hw = load_hardware("paper-pcm", {"converters.dac_bits": None, "converters.adc_bits": None})
    layer = AnalogLinear.from_digital(torch.zeros(600, 64), None, hw).eval()
    layer.generator = seeds.generator("z")
    with torch.no_grad():
        z = (layer(torch.ones(2000, 64)) / hw.periphery.output_noise_std).flatten()
    assert abs(z.mean().item()) < 0.005 and abs(z.std().item() - 1) < 0.005
    assert abs((z**4).mean().item() - 3) < 0.05  # Gaussian kurtosis
    assert abs((z.abs() > 3).float().mean().item() - 0.0027) < 0.0004


@needs_kernels
def test_fused_bits_do_not_depend_on_threads_and_follow_the_seed() -> None:
    layer, x = _layer(8)
    threads = torch.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 1):
            torch.set_num_threads(t)
            layer.generator = seeds.generator("t", 1 if len(outs) < 2 else 2)
            with torch.no_grad():
                outs.append(layer(x))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


@needs_kernels
def test_fused_training_gradients_match_the_torch_path() -> None:
    layer, x = _layer(8, out=300, inp=600, weight_noise=0.0)
    layer.train()
    r = torch.randn(64, 300, generator=torch.Generator().manual_seed(0))
    grads, outs = [], []
    for use_fused in (False, True):
        xr = x[:64].clone().requires_grad_(True)
        with fused.kernels(use_fused):
            y = layer(xr)
        (y * r).sum().backward()
        grads.append(xr.grad)
        outs.append(y.detach())
    # Straight-through: dy/dx = w * scales on both paths; only the noise differs.
    assert not torch.equal(outs[0], outs[1])
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_without_a_compiler_the_torch_path_runs_and_says_so_once(
    monkeypatch, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path))
    fused.reset()
    try:
        layer, x = _layer(8, out=64, inp=64)
        with caplog.at_level(logging.WARNING, logger="analora.fused"):
            y1, y2 = layer(x[:8, :64]), layer(x[:8, :64])
        assert fused.load() is None and y1.shape == y2.shape == (8, 64)
        warnings = [r for r in caplog.records if "using the torch path" in r.message]
        assert len(warnings) == 1 and "no C++ compiler" in warnings[0].message
    finally:
        monkeypatch.undo()
        fused.reset()


def test_kernels_build_into_the_cache(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if fused._compiler() is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path))
    fused.reset()
    try:
        assert fused.load() is not None
        built = list((tmp_path / "kernels").glob("analora_fused_*.so"))
        assert len(built) == 1 and not list((tmp_path / "kernels").glob("tmp*"))
    finally:
        monkeypatch.undo()
        fused.reset()


@needs_kernels
def test_openmp_threads_and_the_thread_pool_give_the_same_bits(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from analora.hardware.devices import PCMDevice

    lib = fused.load()
    assert lib is not None
    if not fused._openmp:
        pytest.skip("the kernels do not split on OpenMP here")
    layer, x = _layer(8)
    device = PCMDevice(load_hardware("paper-pcm").device)
    w = layer.tile_weight.detach()
    threads = torch.get_num_threads()
    runs = []
    try:
        torch.set_num_threads(2)
        for openmp in (True, False):
            if not openmp:
                monkeypatch.setattr(fused, "_openmp", False)
            layer.generator = seeds.generator("split")
            st = device.program(w, layer.geometry.tile_max(w), seeds.generator("p"), [])
            with torch.no_grad():
                runs.append((layer(x), device.read(st, 3600.0, seeds.generator("r"), [])))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


@needs_kernels
def test_kernels_on_an_openmp_runtime_of_their_own_use_the_pool(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    lib = fused.load()
    assert lib is not None
    if not lib.analora_openmp():
        pytest.skip("the kernels were built without OpenMP")
    torchs, others = "/torch/lib/libgomp.so.1", "/site-packages/aihwkit.libs/libgomp-e9.so.1"
    # Loading the kernels mapped a runtime that was not there before: not torch's.
    monkeypatch.setattr(fused, "_openmp_runtimes", lambda: {torchs, "/usr/lib/libgomp.so.1"})
    with caplog.at_level(logging.INFO, logger="analora.fused"):
        fused._check_openmp(lib, before={torchs})
    assert fused._openmp is False and "OpenMP runtime of their own" in caplog.text
    # Another package's runtime, loaded before, is no reason to leave OpenMP.
    monkeypatch.setattr(fused, "_openmp_runtimes", lambda: {torchs, others})
    fused._check_openmp(lib, before={torchs, others})
    assert fused._openmp is True


def test_without_openmp_the_kernels_build_and_split_on_a_thread_pool(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if fused._compiler() is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "OPENMP", ("-fno-such-option-xyz",))  # the OpenMP build fails
    fused.reset()
    threads = torch.get_num_threads()
    try:
        lib = fused.load()
        assert lib is not None and lib.analora_openmp() == 0 and not fused._openmp
        torch.set_num_threads(2)
        layer, x = _layer(8, out=64, inp=300)
        with torch.no_grad():
            assert torch.isfinite(layer(x)).all()
    finally:
        torch.set_num_threads(threads)
        monkeypatch.undo()
        fused.reset()


def test_loading_the_kernels_leaves_the_floating_point_mode_alone() -> None:
    """Denormals stay denormals after the library is loaded (no flush-to-zero)."""
    import subprocess
    import sys

    code = (
        "import torch; from analora import fused; lib = fused.load(); "
        "x = torch.tensor([1e-39]); print(lib is not None, (x * 1.0).item() != 0.0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, denormal_kept = out.stdout.split()
    if loaded != "True":
        pytest.skip("no C++ compiler here: the kernels did not load")
    assert denormal_kept == "True"


@needs_kernels
@pytest.mark.parametrize("bits", [8, 6])
def test_the_identity_read_out_without_its_gemm_gives_the_same_bits(bits: int) -> None:
    from analora.analog.chip import drift_readout
    from analora.analog.mvm import tile_outputs

    layer, _ = _layer(bits)  # 1030 inputs: three tiles, the last one partly filled
    g = layer.geometry
    w = layer.tile_weight.detach()
    eye = torch.eye(g.chunk).unsqueeze(1).expand(g.chunk, g.n_in, g.chunk)
    outs = [
        tile_outputs(eye, w, layer.settings, seeds.generator("eye", bits), one_hot=flag)
        for flag in (True, False)
    ]
    assert outs[0].abs().sum() > 0 and torch.equal(outs[0], outs[1])
    # Without the reduced kernel, the drift-compensation reference takes the shortcut.
    with mock.patch("analora.analog.chip._fused_drift_readout", return_value=None):
        beta = drift_readout(layer, w, seeds.generator("eye", bits))
    assert beta.shape == (g.n_in, g.n_out) and bool((beta > 0).all())
    with pytest.raises(ValueError, match="one input row per tile input"):
        tile_outputs(eye[:5], w, layer.settings, None, one_hot=True)


def _beta(layer: AnalogLinear, use: bool, read: int = 0) -> torch.Tensor:
    from analora.analog.chip import drift_readout

    with fused.kernels(use):
        return drift_readout(layer, layer.tile_weight.detach(), seeds.generator("eye", read))


@needs_kernels
@pytest.mark.parametrize("bits", [8, 6])
def test_the_reduced_drift_read_out_matches_the_general_path(bits: int) -> None:
    layer, _ = _layer(bits)  # three input tiles, the last one partly filled
    fused_beta, general = _beta(layer, True), _beta(layer, False)
    general_again = _beta(layer, False, 1)
    # Output noise: the kernel's draws are not torch's, so the two agree as
    # closely as two reads of the general path agree with each other.
    spread = (general_again / general - 1).abs().max()
    assert 0 < spread < 5e-3
    assert (fused_beta / general - 1).abs().max() < 3 * spread
    own_spread = (_beta(layer, True, 1) / fused_beta - 1).abs().max()
    assert spread / 3 < own_spread < 3 * spread  # the kernel draws the noise too
    # Without output noise the same numbers, but for float rounding.
    quiet = AnalogLinear.from_digital(
        layer.digital_weight(),
        None,
        load_hardware(
            "paper-pcm",
            {
                "converters.dac_bits": bits,
                "converters.adc_bits": bits,
                "periphery.output_noise_std": 0.0,
            },
        ),
    ).eval()
    assert torch.allclose(_beta(quiet, True), _beta(quiet, False), rtol=1e-5, atol=0)


@needs_kernels
def test_the_reduced_drift_read_out_leaves_saturated_tiles_to_bound_management() -> None:
    from analora.analog.chip import _fused_drift_readout

    over = {"converters.output_bound": 0.05}  # every weight's lone response saturates
    w = torch.randn(64, 96, generator=torch.Generator().manual_seed(1))
    managed = AnalogLinear.from_digital(w, None, load_hardware("paper-pcm", over)).eval()
    gen = seeds.generator("eye", 0)
    assert _fused_drift_readout(managed, managed.tile_weight.detach(), gen) is None
    plain = AnalogLinear.from_digital(
        w, None, load_hardware("paper-pcm", {**over, "periphery.bound_management": "none"})
    ).eval()
    # Without bound management a saturated code is only clamped: the kernel applies.
    reduced = _fused_drift_readout(plain, plain.tile_weight.detach(), gen)
    assert reduced is not None
    assert torch.allclose(reduced, _beta(plain, False), rtol=2e-2)
