"""Saving and loading chips: safetensors plus JSON metadata, no pickle.

A chip directory holds ``chip.safetensors`` (every programmed-state tensor,
keyed ``<layer>::<name>``) and ``chip.json`` (format, hardware config, model
fingerprint, seed, device, chip fingerprint, package versions and the sha256
of the tensor file). Writes are atomic: both files go to a temporary sibling
directory that replaces the target in one rename.

:func:`verify_chip` checks everything a chip directory can show without its
model (checksum, hardware config, the tensors each layer must have and their
shapes, recomputed from the recorded layer sizes and tile size, and the chip
fingerprint recomputed from the tensors); ``chip info`` and :func:`load_chip`
both run it, and loading adds the checks against the model.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from analora.analog.chip import Chip
from analora.analog.convert import analog_layers, conversion_report, convert
from analora.analog.shapes import check_state_shapes, expected_state_shapes
from analora.analog.tiles import TileGeometry
from analora.errors import AnaloraError, ChipError, ConfigError
from analora.files import atomic_directory, read_json, sha256_file
from analora.hardware.config import HardwareConfig
from analora.hardware.devices import DeviceModel, make_device
from analora.provenance import package_versions

FORMAT = "analora-chip/1"
TENSORS = "chip.safetensors"
META = "chip.json"


def is_chip_dir(path: Path) -> bool:
    return (path / META).is_file() or (path / TENSORS).is_file()


def save_chip(chip: Chip, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write ``chip`` to ``out_dir`` atomically; refuse to replace an existing
    chip (or any non-empty directory) unless ``overwrite``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ChipError(f"{out} exists and is not a directory: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        what = "a chip" if is_chip_dir(out) else "files"
        raise ChipError(f"{out} already holds {what}: pass --overwrite or choose another --out")
    with atomic_directory(out) as tmp:
        tensors = {
            f"{layer}::{key}": t.detach().cpu().contiguous()
            for layer, st in chip.state.items()
            for key, t in st.items()
        }
        save_file(tensors, str(tmp / TENSORS), metadata={"format": FORMAT})
        meta: dict[str, Any] = {
            "format": FORMAT,
            "hardware": chip.hardware.to_dict(),
            "hardware_fingerprint": chip.hardware.fingerprint(),
            "device": chip.device_model.name,
            "seed": chip.seed,
            "model_fingerprint": chip.model_fingerprint,
            "model_name_or_path": getattr(
                getattr(chip.model, "config", None), "_name_or_path", None
            ),
            "fingerprint": chip.fingerprint(),
            "layers": list(chip.state),
            "report": chip.report.to_dict(),
            "versions": package_versions(),
            "created_unix_s": time.time(),
            "tensors_sha256": sha256_file(tmp / TENSORS),
        }
        with (tmp / META).open("w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
    return out


def read_chip_meta(chip_dir: str | Path) -> dict[str, Any]:
    """The metadata of a chip directory, checked for format and completeness."""
    d = Path(chip_dir)
    if not d.is_dir():
        raise ChipError(
            f"{d} is not a directory: pass a chip directory written by 'analora chip program'"
        )
    meta = read_json(d / META, ChipError, "pass a chip directory written by 'analora chip program'")
    missing = [
        k
        for k in (
            "format",
            "hardware",
            "seed",
            "model_fingerprint",
            "fingerprint",
            "tensors_sha256",
        )
        if k not in meta
    ]
    if missing or meta.get("format") != FORMAT:
        raise ChipError(
            f"{d / META} is not an {FORMAT} file (missing {missing}): re-program the chip"
        )
    return meta


def verify_checksum(chip_dir: str | Path, meta: dict[str, Any]) -> None:
    """Raise :class:`ChipError` unless the tensor file matches its checksum."""
    tensor_path = Path(chip_dir) / TENSORS
    if not tensor_path.is_file():
        raise ChipError(f"{chip_dir} holds no {TENSORS}: the chip is incomplete, re-program it")
    if sha256_file(tensor_path) != meta["tensors_sha256"]:
        raise ChipError(
            f"{tensor_path} does not match its checksum (truncated or modified): "
            "re-program the chip"
        )


def _read_state(tensor_path: Path) -> dict[str, dict[str, Tensor]]:
    try:
        flat = load_file(str(tensor_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ChipError(f"{tensor_path} is unreadable ({exc}): re-program the chip") from None
    state: dict[str, dict[str, Tensor]] = {}
    for key, t in flat.items():
        layer_key, _, tensor_name = key.partition("::")
        state.setdefault(layer_key, {})[tensor_name] = t
    return state


def verify_chip(
    chip_dir: str | Path, meta: dict[str, Any]
) -> tuple[HardwareConfig, dict[str, dict[str, Tensor]]]:
    """Everything a chip directory can show without its model: the tensor
    file's checksum, the hardware config, the layers' tensors and shapes
    against the recorded layer sizes, and the chip fingerprint recomputed from
    the tensors. Returns the hardware config and the programmed state."""
    d = Path(chip_dir)
    verify_checksum(d, meta)
    try:
        hardware = HardwareConfig.from_dict(meta["hardware"])
    except (ConfigError, TypeError, AttributeError) as exc:
        raise ChipError(f"{d / META} has an invalid hardware config ({exc})") from None
    state = _read_state(d / TENSORS)
    recorded = {
        entry.get("name"): entry
        for entry in meta.get("report", {}).get("layers", [])
        if isinstance(entry, dict)
    }
    listed = meta.get("layers", list(recorded))
    if set(state) != set(listed) or set(state) != set(recorded):
        raise ChipError(
            f"the chip in {d} holds tensors of other layers than {META} lists: "
            "the chip is damaged or forged; re-program it"
        )
    gdc = hardware.drift_compensation.method == "global"
    tile = hardware.tile
    for name, st in state.items():
        entry = recorded[name]
        try:
            geometry = TileGeometry.for_layer(
                int(entry["in_features"]),
                int(entry["out_features"]),
                tile.max_inputs,
                tile.max_outputs,
            )
        except (KeyError, TypeError, ValueError):
            raise ChipError(
                f"{d / META} has no sizes for layer {name}: re-program the chip"
            ) from None
        expected = expected_state_shapes(meta.get("device", hardware.device.model), geometry, gdc)
        check_state_shapes(str(d), name, st, expected)
    chip = Chip(
        model=nn.Module(),
        hardware=hardware,
        seed=int(meta["seed"]),
        model_fingerprint=meta["model_fingerprint"],
        device_model=make_device(hardware.device),
        state=state,
    )
    if chip.fingerprint() != meta["fingerprint"]:
        raise ChipError(f"the chip in {d} does not match its fingerprint: re-program the chip")
    return hardware, state


def load_chip(
    chip_dir: str | Path,
    model: nn.Module,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    device: DeviceModel | None = None,
) -> Chip:
    """Load a saved chip onto ``model`` (the same pretrained model it was
    programmed from; converted here with the chip's hardware if need be).

    Fails with :class:`ChipError` on a truncated or tampered file, or when the
    model or the hardware config differs from the chip's.
    """
    d = Path(chip_dir)
    meta = read_chip_meta(d)
    hardware, state = verify_chip(d, meta)
    rep = conversion_report(model)
    if rep is None:
        layers = meta.get("report", {}).get("layers", [])
        include = include or [layer["name"] for layer in layers] or None
        try:
            rep = convert(model, hardware, include=include, exclude=exclude)
        except AnaloraError as exc:
            raise ChipError(f"the chip in {d} does not fit this model ({exc})") from None
    else:
        hw = analog_layers(model)[0][1].hardware
        if hw.fingerprint() != hardware.fingerprint():
            raise ChipError(
                f"the chip in {d} was programmed for hardware {hardware.name!r} "
                f"but the model is converted for {hw.name!r}: load it onto an unconverted model"
            )
    if rep.model_fingerprint != meta["model_fingerprint"]:
        raise ChipError(
            f"the chip in {d} was programmed from another model (fingerprint "
            f"{meta['model_fingerprint'][:12]} != {rep.model_fingerprint[:12]}): load the model "
            f"it was programmed from ({meta.get('model_name_or_path')})"
        )
    names = {n for n, _ in analog_layers(model)}
    if set(state) != names:
        raise ChipError(
            f"the chip in {d} maps other layers than this model: "
            "load the model it was programmed from"
        )
    gdc = hardware.drift_compensation.method == "global"
    for layer_name, layer in analog_layers(model):
        expected = expected_state_shapes(
            meta.get("device", hardware.device.model), layer.geometry, gdc
        )
        check_state_shapes(str(d), layer_name, state[layer_name], expected)
        if not torch.equal(state[layer_name]["mapping_scale"], layer.mapping_scale):
            raise ChipError(
                f"layer {layer_name} of the chip in {d} was mapped differently: re-program the chip"
            )
    device_name = meta.get("device", hardware.device.model)
    dev = device if device is not None else make_device(hardware.device)
    if dev.name != device_name:
        raise ChipError(
            f"the chip in {d} was programmed with device model {device_name!r}, not {dev.name!r}: "
            "pass the same device model to load_chip"
        )
    chip = Chip(
        model=model,
        hardware=hardware,
        seed=int(meta["seed"]),
        model_fingerprint=meta["model_fingerprint"],
        device_model=dev,
        state=state,
    )
    if chip.fingerprint() != meta["fingerprint"]:
        raise ChipError(f"the chip in {d} does not match its fingerprint: re-program the chip")
    return chip


# -- trained analog models ------------------------------------------------------
#
# Full hardware-aware training changes the analog target weights themselves, so
# the result is not a digital model any more: it is saved as the converted
# model's state (tile weights, mapping scales, learned out-scales, digital
# parts) beside its Hugging Face config, and loaded by rebuilding the model
# from the config, converting it with the saved hardware and restoring the
# state. Such a model is then programmed like any other.

ANALOG_FORMAT = "analora-analog-model/1"
ANALOG_META = "analog_model.json"
ANALOG_TENSORS = "analog_model.safetensors"


def is_analog_model_dir(path: str | Path) -> bool:
    return (Path(path) / ANALOG_META).is_file()


def save_analog_model(
    model: nn.Module,
    out_dir: str | Path,
    model_class: str,
    tokenizer: Any = None,
    overwrite: bool = False,
) -> Path:
    """Save a converted model whose analog weights were trained, atomically."""
    from safetensors.torch import save_model

    from analora.analog.convert import refresh_fingerprint

    layers = analog_layers(model)
    if not layers:
        raise AnaloraError("the model has no analog layers: save it with save_pretrained")
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise AnaloraError(f"{out} is not empty: pass --overwrite or choose another --out")
    fingerprint = refresh_fingerprint(model)
    hw = layers[0][1].hardware
    with atomic_directory(out) as tmp:
        model.config.to_json_file(str(tmp / "config.json"))  # type: ignore[union-attr,operator]
        save_model(model, str(tmp / ANALOG_TENSORS), metadata={"format": ANALOG_FORMAT})
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        meta = {
            "format": ANALOG_FORMAT,
            "model_class": model_class,
            "hardware": hw.to_dict(),
            "hardware_fingerprint": hw.fingerprint(),
            "layers": [n for n, _ in layers],
            "model_fingerprint": fingerprint,
            "versions": package_versions(),
            "tensors_sha256": sha256_file(tmp / ANALOG_TENSORS),
            "files_sha256": {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / ANALOG_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def load_analog_model(model_dir: str | Path) -> nn.Module:
    """Rebuild a model saved by :func:`save_analog_model` (checksum and
    fingerprint verified), converted and ready to program."""
    import transformers
    from safetensors.torch import load_model

    from analora.analog.convert import refresh_fingerprint
    from analora.models import MODEL_CLASSES

    d = Path(model_dir)
    fix = "pass a model directory written by 'analora train --method ahwa'"
    meta = read_json(d / ANALOG_META, AnaloraError, fix)
    if meta.get("format") != ANALOG_FORMAT or meta.get("model_class") not in MODEL_CLASSES:
        raise AnaloraError(f"{d / ANALOG_META} is not an {ANALOG_FORMAT} file: {fix}")
    path = d / ANALOG_TENSORS
    # Every file for models saved with files_sha256; the tensors for older ones.
    listed = meta.get("files_sha256") or {ANALOG_TENSORS: meta.get("tensors_sha256")}
    if not isinstance(listed, dict) or ANALOG_TENSORS not in listed:
        raise AnaloraError(f"{d / ANALOG_META} lists no checksum of {ANALOG_TENSORS}: {fix}")
    for name, digest in sorted(listed.items()):
        if not (d / name).is_file() or sha256_file(d / name) != digest:
            raise AnaloraError(
                f"{d / name} is missing or does not match its checksum (truncated or changed "
                "since it was saved): retrain or recopy the model directory"
            )
    try:
        hardware = HardwareConfig.from_dict(meta["hardware"])
    except ConfigError as exc:
        raise AnaloraError(f"{d / ANALOG_META} has an invalid hardware config ({exc})") from None
    try:
        config = transformers.AutoConfig.from_pretrained(str(d))
    except (OSError, ValueError) as exc:
        raise AnaloraError(
            f"{d / 'config.json'} is unreadable ({str(exc).splitlines()[0][:120]}): "
            "retrain or recopy the model directory"
        ) from None
    auto = getattr(transformers, MODEL_CLASSES[meta["model_class"]])
    model = auto.from_config(config)
    convert(model, hardware, include=meta["layers"])
    try:
        load_model(model, str(path), strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise AnaloraError(
            f"{path} does not fit its config ({exc}): retrain or recopy it"
        ) from None
    if refresh_fingerprint(model) != meta["model_fingerprint"]:
        raise AnaloraError(f"{d} does not match its fingerprint: retrain or recopy it")
    model.eval()
    return model
