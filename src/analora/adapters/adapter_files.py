"""Saving and loading adapters: peft's format plus analora's binding metadata.

An adapter directory holds what peft writes (``adapter_model.safetensors``,
``adapter_config.json``) and ``analora_adapter.json``: the fingerprint of the
base model it was trained on, the hardware config, the chip fingerprint for a
chip-bound adapter, the task, the method, the training seed, the final
metrics, package versions and the sha256 of every file of the directory
(``adapter_config.json`` included: its rank, alpha and target modules shape
the results as much as the weights do). Loading checks every checksum and
binding before touching the model, and that the config agrees with the
weights' shapes (the only check for adapters saved before every file had a
checksum). Writes are atomic.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel
from torch import nn

from analora.adapters.lora import AdapterError, AnalogLoraLinear, known_to_peft
from analora.analog.chip import Chip
from analora.analog.convert import (
    analog_layers,
    conversion_report,
    layers_fingerprint,
    mappable_layers,
)
from analora.analog.layer import AnalogLinear
from analora.files import atomic_directory, read_json, sha256_file
from analora.provenance import package_versions

FORMAT = "analora-adapter/1"
META = "analora_adapter.json"
WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
_FIX = "re-save the adapter (train it again)"


def _base_binding(model: nn.Module) -> tuple[str, str]:
    """(model fingerprint, hardware fingerprint) of an analog model."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    report = conversion_report(base)
    layers = analog_layers(base)
    if report is None or not layers:
        raise AdapterError("the model has no analog layers: convert or program it first")
    return report.model_fingerprint, layers[0][1].hardware.fingerprint()


def save_adapter(
    model: PeftModel,
    out_dir: str | Path,
    *,
    task: str,
    method: str,
    seed: int,
    metrics: dict[str, float] | None = None,
    chip: Chip | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a LoRA-wrapped analog model's adapter and head, bound to its base
    model and hardware config (and to ``chip`` for a chip-calibrated adapter)."""
    model_fp, hw_fp = _base_binding(model)
    hardware = analog_layers(model.get_base_model())[0][1].hardware
    binding: dict[str, Any] = {
        "model_fingerprint": model_fp,
        "hardware": hardware.to_dict(),
        "hardware_fingerprint": hw_fp,
        "chip_fingerprint": chip.fingerprint() if chip is not None else None,
        "chip_seed": chip.seed if chip is not None else None,
    }
    return _write(model, Path(out_dir), binding, task, method, seed, metrics, overwrite)


def save_digital_adapter(
    model: PeftModel,
    out_dir: str | Path,
    *,
    model_fingerprint: str,
    task: str,
    method: str,
    seed: int,
    metrics: dict[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a LoRA adapter trained on the digital model (``digital-lora``),
    bound to that model by ``model_fingerprint`` (:func:`digital_fingerprint`
    of the model before LoRA was added) and to no hardware. An analog method
    can then warm-start from it (``--init-adapter``)."""
    binding: dict[str, Any] = {
        "model_fingerprint": model_fingerprint,
        "hardware": None,
        "hardware_fingerprint": None,
        "chip_fingerprint": None,
        "chip_seed": None,
    }
    return _write(model, Path(out_dir), binding, task, method, seed, metrics, overwrite)


def digital_fingerprint(model: nn.Module, head: str) -> str:
    """The model fingerprint :func:`~analora.analog.convert.convert` gives
    this digital model (not yet wrapped by LoRA) when every mappable linear
    layer but ``head`` is mapped."""
    if isinstance(model, PeftModel) or analog_layers(model):
        raise AdapterError("fingerprint the digital model before LoRA or conversion")
    return layers_fingerprint(mappable_layers(model, exclude=[head]))


def _write(
    model: PeftModel,
    out: Path,
    binding: dict[str, Any],
    task: str,
    method: str,
    seed: int,
    metrics: dict[str, float] | None,
    overwrite: bool,
) -> Path:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AdapterError(f"{out} is not empty: pass --overwrite or choose another --out")
    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp))
        _stable_config(tmp / CONFIG)
        meta: dict[str, Any] = {
            "format": FORMAT,
            **binding,
            "task": task,
            "method": method,
            "seed": seed,
            "metrics": metrics or {},
            "versions": package_versions(),
            "weights_sha256": sha256_file(tmp / WEIGHTS),
            "files_sha256": {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def _stable_config(path: Path) -> None:
    """peft writes ``target_modules`` from a set, in an order that changes
    from process to process (string hashing); write it sorted, so that the
    same adapter has the same bytes and checksum in every run."""
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_adapter_meta(adapter_dir: str | Path) -> dict[str, Any]:
    """The binding metadata of an adapter directory, checked for completeness,
    against the checksums of its files, and for a config that agrees with
    the weights."""
    d = Path(adapter_dir)
    path = d / META
    meta = read_json(path, AdapterError, "pass an adapter saved by analora (save_adapter)")
    missing = [
        k
        for k in ("format", "model_fingerprint", "hardware_fingerprint", "weights_sha256")
        if k not in meta
    ]
    if missing or meta.get("format") != FORMAT:
        raise AdapterError(
            f"{path} is not an {FORMAT} file (missing {missing}): re-save the adapter"
        )
    _check_checksums(d, meta)
    check_config_matches_weights(d)
    return meta


def _check_checksums(d: Path, meta: dict[str, Any]) -> None:
    """Every file the metadata lists (all of them for adapters saved with
    ``files_sha256``; the weights alone for older ones) is there, unchanged."""
    listed = meta.get("files_sha256")
    if listed is None:
        listed = {WEIGHTS: meta["weights_sha256"]}
    elif not isinstance(listed, dict) or CONFIG not in listed or WEIGHTS not in listed:
        raise AdapterError(f"{d / META} lists no checksums of {CONFIG} and {WEIGHTS}: {_FIX}")
    for name, digest in sorted(listed.items()):
        path = d / name
        if not path.is_file() or sha256_file(path) != digest:
            raise AdapterError(
                f"{path} is missing or does not match its checksum in {META} (changed since "
                f"the adapter was saved): restore it or {_FIX}"
            )


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors file's header (8-byte little-endian
    length, then JSON), read without loading any tensor."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size)) if size < 1 << 27 else None
    except (OSError, struct.error, UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise AdapterError(f"{path} is not a safetensors file: {_FIX}")
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _targeted(module: str, targets: object) -> bool:
    """Whether peft's ``target_modules`` selects ``module`` (a string is a
    full-match regular expression; a list entry matches by name or suffix)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    assert isinstance(targets, list)
    return any(module == t or module.endswith("." + t) for t in targets)


def _read_lora_config(path: Path) -> dict[str, Any]:
    config = read_json(path, AdapterError, _FIX)
    r, alpha, targets = config.get("r"), config.get("lora_alpha"), config.get("target_modules")
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise AdapterError(f"{path} has r={r!r}, not an integer >= 1: {_FIX}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha > 0:
        raise AdapterError(f"{path} has lora_alpha={alpha!r}, not a number > 0: {_FIX}")
    if not isinstance(targets, str) and not (
        isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)
    ):
        raise AdapterError(f"{path} has target_modules={targets!r}, not module names: {_FIX}")
    return config


def check_config_matches_weights(adapter_dir: str | Path) -> None:
    """Refuse an ``adapter_config.json`` that disagrees with the weights: a
    rank other than the LoRA matrices', a target module without weights, or
    weights of a module the config does not target."""
    d = Path(adapter_dir)
    config = _read_lora_config(d / CONFIG)
    shapes = safetensors_shapes(d / WEIGHTS)
    ranks = config.get("rank_pattern") or {}
    modules: dict[str, set[int]] = {}
    for key, shape in shapes.items():
        m = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight", key)
        if m is None:
            continue
        rank = shape[0] if m.group(2) == "A" else shape[-1]
        modules.setdefault(m.group(1), set()).add(rank)
    if not modules:
        raise AdapterError(f"{d / WEIGHTS} holds no LoRA weights: {_FIX}")
    for module, found in sorted(modules.items()):
        if not _targeted(module, config["target_modules"]):
            raise AdapterError(
                f"{d / CONFIG} does not target {module}, which has LoRA weights: {_FIX}"
            )
        if not ranks and found != {config["r"]}:
            raise AdapterError(
                f"{d / CONFIG} has r={config['r']}, but the weights of {module} have rank "
                f"{', '.join(map(str, sorted(found)))}: {_FIX}"
            )
    targets = config["target_modules"]
    if isinstance(targets, list):
        orphans = [t for t in targets if not any(_targeted(m, [t]) for m in modules)]
        if orphans:
            raise AdapterError(f"{d / CONFIG} targets {orphans[0]}, which has no weights: {_FIX}")


def load_adapter(model: nn.Module, adapter_dir: str | Path, chip: Chip | None = None) -> PeftModel:
    """Load an adapter onto the analog model it was trained for.

    Refuses an adapter for another base model or hardware config, and a
    chip-bound adapter without its chip or with another chip.
    """
    meta = read_adapter_meta(adapter_dir)
    model_fp, hw_fp = _base_binding(model)
    if meta["model_fingerprint"] != model_fp:
        raise AdapterError(
            f"the adapter in {adapter_dir} was trained on another base model "
            f"({meta['model_fingerprint'][:12]} != {model_fp[:12]}): load it onto that model"
        )
    if meta["hardware_fingerprint"] is None:
        raise AdapterError(
            f"the adapter in {adapter_dir} was trained on the digital model: "
            "load it there, or warm-start an analog method from it (--init-adapter)"
        )
    if meta["hardware_fingerprint"] != hw_fp:
        raise AdapterError(
            f"the adapter in {adapter_dir} was trained for hardware "
            f"{meta.get('hardware', {}).get('name')!r}, not this model's: convert with that config"
        )
    bound = meta.get("chip_fingerprint")
    if bound is not None:
        if chip is None:
            raise AdapterError(
                f"the adapter in {adapter_dir} is bound to chip {bound[:12]} (seed "
                f"{meta.get('chip_seed')}): pass that chip (--chip DIR)"
            )
        if chip.fingerprint() != bound:
            raise AdapterError(
                f"the adapter in {adapter_dir} is bound to chip {bound[:12]}, not "
                f"{chip.fingerprint()[:12]}: use it with its own chip"
            )
    config = LoraConfig.from_pretrained(str(adapter_dir))
    config._register_custom_module({AnalogLinear: AnalogLoraLinear})
    with known_to_peft():
        return PeftModel.from_pretrained(model, str(adapter_dir), config=config)
