"""``program_chip``: program a model onto a chip and save it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError


def program_chip(
    model: str,
    out: str | Path,
    *,
    hardware: str = "paper-pcm",
    set_fields: Sequence[str] = (),
    seed: int = 0,
    model_class: str = "base",
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Program ``model`` (a directory, alias or Hub id) under ``hardware``
    (a preset or file, with ``set_fields`` overrides) with ``seed`` and save
    the chip to ``out``. Refuses an occupied ``out`` before the slow work."""
    from analora.analog import program, save_chip
    from analora.analog.chip_files import is_chip_dir
    from analora.files import output_lock
    from analora.hardware import load_hardware
    from analora.models import load_model

    lock = output_lock(out, "analora chip program", beside=True)
    hw = load_hardware(hardware, list(set_fields) or None)
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise AnaloraError(f"--out {target} is a file: choose a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        what = "a chip" if is_chip_dir(target) else "files"
        raise AnaloraError(
            f"{target} already holds {what}: pass --overwrite or choose another --out"
        )
    with lock:
        loaded = load_model(model, model_class)
        chip = program(
            loaded,
            hw,
            seed=seed,
            include=list(include) if include else None,
            exclude=list(exclude) if exclude else None,
            progress=progress,
        )
        save_chip(chip, target, overwrite=overwrite)
    return chip


def read_chip(
    chip_dir: str | Path,
    model: str,
    ages_s: Sequence[float],
    *,
    model_class: str = "base",
    hardware: str | None = None,
    set_fields: Sequence[str] = (),
    read_index: int = 0,
) -> tuple[Any, list[dict[str, Any]]]:
    """Load a saved chip onto ``model`` and read it at each age: the relative
    error of the weights it computes with against the targets, and the mean
    drift-compensation factor (None when compensation is off). ``hardware``,
    when given, must be the chip's."""
    from analora.analog import load_chip
    from analora.analog.chip_files import read_chip_meta
    from analora.errors import ChipError
    from analora.hardware import load_hardware
    from analora.models import load_model

    meta = read_chip_meta(chip_dir)
    if hardware is not None:
        hw = load_hardware(hardware, list(set_fields) or None)
        if hw.fingerprint() != meta.get("hardware_fingerprint"):
            raise ChipError(
                f"the chip in {chip_dir} was programmed for hardware "
                f"{meta['hardware']['name']!r}, not {hw.name!r}: drop --hardware or re-program"
            )
    chip = load_chip(chip_dir, load_model(model, model_class))
    rows = []
    for t_s in ages_s:
        chip.read(t_s, read_index)
        rows.append({"t_s": t_s, **_weight_error(chip)})
    return chip, rows


def _weight_error(chip: Any) -> dict[str, Any]:
    import torch

    num = den = 0.0
    gdc = []
    for _, layer in chip.layers():
        assert layer.chip_weight is not None
        w_t = layer.chip_weight * layer.mapping_scale.unsqueeze(-1)
        if layer.drift_scale is not None:
            w_t = w_t * layer.drift_scale.unsqueeze(-1)
            gdc.append(layer.drift_scale.mean().item())
        w0 = layer.tile_weight * layer.mapping_scale.unsqueeze(-1)
        num += float(torch.sum((w_t - w0) ** 2))
        den += float(torch.sum(w0**2))
    return {"weight_error": (num / den) ** 0.5, "gdc": sum(gdc) / len(gdc) if gdc else None}
