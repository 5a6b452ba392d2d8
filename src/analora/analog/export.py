"""Export to IBM aihwkit, for users who continue there (aihwkit installed).

``export_to_aihwkit(model)`` gives the deployed model (target weights, the
analora hardware config translated by
:func:`analora.hardware.aihwkit_bridge.rpu_config_for`) as aihwkit layers,
which aihwkit programs itself; ``export_to_aihwkit(chip)`` carries over one
programmed chip: the weights its devices hold (its programming noise
included), which aihwkit then ages with its own drift and read noise.
"""

from __future__ import annotations

from torch import Tensor, nn

from analora.analog.chip import Chip
from analora.analog.convert import analog_layers, digital_twin
from analora.errors import ChipError
from analora.hardware.aihwkit_bridge import to_aihwkit


def programmed_weights(chip: Chip) -> dict[str, Tensor]:
    """Per analog layer, the ``[out, in]`` digital-equivalent weights the chip
    was programmed to (programming noise, mapping and out-scales included)."""
    out = {}
    for name, layer in chip.layers():
        packed = chip.device_model.programmed_weights(chip.state[name], layer.geometry.blocks)
        scale = layer.mapping_scale
        if layer.out_scale is not None:
            scale = scale * layer.out_scale
        out[name] = layer.geometry.unpack_weight(packed * scale.unsqueeze(-1)).detach()
    return out


def export_to_aihwkit(source: nn.Module | Chip, seed: int = 0) -> nn.Module:
    """An aihwkit model of a converted analora model, or of a chip (see the
    module docstring); ``seed`` seeds the drift exponents aihwkit draws for a
    chip."""
    chip = source if isinstance(source, Chip) else None
    model = chip.model if chip is not None else source
    assert isinstance(model, nn.Module)
    layers = analog_layers(model)
    if not layers:
        raise ChipError("the model has no analog layers: convert or program it first")
    hardware = layers[0][1].hardware
    weights = programmed_weights(chip) if chip is not None else None
    return to_aihwkit(
        digital_twin(model),
        hardware,
        [n for n, _ in layers],
        weights,
        seed,
    )
