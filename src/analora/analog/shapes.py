"""What a chip holds for each analog layer: the tensors and their shapes, as
functions of the layer's tile geometry and the device model. A chip whose
tensors differ is damaged or forged (see :func:`analora.analog.chip_files.verify_chip`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from analora.analog.tiles import TileGeometry
from analora.errors import ChipError


def expected_state_shapes(
    device: str, geometry: TileGeometry, drift_compensation: bool
) -> tuple[dict[str, tuple[int, ...]], bool]:
    """(tensors and shapes one programmed layer holds, whether that is all of
    them). Complete for analora's own device models
    (:mod:`analora.hardware.devices`); for another device model only the
    tensors the chip itself adds are known."""
    g = geometry
    packed = (g.n_in, g.out_features, g.chunk)
    shapes: dict[str, tuple[int, ...]] = {"mapping_scale": (g.n_in, g.out_features)}
    if drift_compensation:
        shapes["gdc_reference"] = (g.n_in, g.n_out)
    if device == "pcm":
        pcm = {"g_prog_uS": (2, *packed), "nu": (2, *packed), "w_max": (*packed[:2], 1)}
        return shapes | pcm, True
    if device == "ideal":
        return shapes | {"w": packed}, True
    return shapes, False


def check_state_shapes(
    where: str,
    layer: str,
    state: dict[str, Tensor],
    expected: tuple[dict[str, tuple[int, ...]], bool],
) -> None:
    """Raise :class:`ChipError` unless ``state`` holds the expected float32
    tensors with the expected shapes (and no others, when that list is complete)."""
    shapes, complete = expected
    fix = "the chip is damaged or forged; re-program it"
    if not set(shapes) <= set(state) or (complete and set(state) != set(shapes)):
        raise ChipError(
            f"layer {layer} of the chip in {where} holds tensors {sorted(state)}, expected "
            f"{sorted(shapes)}: {fix}"
        )
    for key, want in sorted(shapes.items()):
        t = state[key]
        if t.dtype != torch.float32 or tuple(t.shape) != want:
            dtype = str(t.dtype).removeprefix("torch.")
            raise ChipError(
                f"tensor {key} of layer {layer} of the chip in {where} is {dtype} "
                f"{tuple(t.shape)}, expected float32 {want}: {fix}"
            )
