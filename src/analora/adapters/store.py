"""Saving and loading adapters: peft's format plus analora's binding metadata.

An adapter directory holds what peft writes (``adapter_model.safetensors``,
``adapter_config.json``) and ``analora_adapter.json``: the fingerprint of the
base model it was trained on, the hardware config, the chip fingerprint for a
chip-bound adapter, the task, the method, the training seed, the final
metrics, package versions and the sha256 of the adapter weights. Loading
checks every binding before touching the model. Writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel
from torch import nn

from analora.adapters.lora import AdapterError, AnalogLoraLinear, known_to_peft
from analora.analog.chip import Chip
from analora.analog.convert import analog_layers, conversion_report
from analora.analog.layer import AnalogLinear
from analora.files import atomic_directory, read_json, sha256_file
from analora.provenance import package_versions

FORMAT = "analora-adapter/1"
META = "analora_adapter.json"
WEIGHTS = "adapter_model.safetensors"


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
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AdapterError(f"{out} is not empty: pass --overwrite or choose another --out")
    model_fp, hw_fp = _base_binding(model)
    hardware = analog_layers(model.get_base_model())[0][1].hardware
    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp))
        meta: dict[str, Any] = {
            "format": FORMAT,
            "model_fingerprint": model_fp,
            "hardware": hardware.to_dict(),
            "hardware_fingerprint": hw_fp,
            "chip_fingerprint": chip.fingerprint() if chip is not None else None,
            "chip_seed": chip.seed if chip is not None else None,
            "task": task,
            "method": method,
            "seed": seed,
            "metrics": metrics or {},
            "versions": package_versions(),
            "weights_sha256": sha256_file(tmp / WEIGHTS),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def read_adapter_meta(adapter_dir: str | Path) -> dict[str, Any]:
    """The binding metadata of an adapter directory, checked for completeness
    and against the checksum of its weights."""
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
    weights = d / WEIGHTS
    if not weights.is_file() or sha256_file(weights) != meta["weights_sha256"]:
        raise AdapterError(
            f"{weights} is missing or does not match its checksum: re-save the adapter"
        )
    return meta


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
