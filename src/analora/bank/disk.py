"""Adapter banks on disk: ``bank.json`` plus one directory per adapter.

A bank directory holds ``bank.json`` (format ``analora-bank/1``: the base
model as the runs named it, its model class and head, the model and
hardware fingerprints every adapter must share, the chip a chip-calibrated
adapter binds the bank to, and one entry per adapter) and
``adapters/<name>/``: a copy of the adapter with its run's ``run.json`` and
``deployment.json``, so the bank is self-contained.

Adding checks the bindings from the metadata alone (no model is loaded):
another base model, another hardware config, or a chip-calibrated adapter
for another chip than the bank's are refused with one line. Every write is
atomic: the adapter's directory is written first, then ``bank.json`` is
replaced; removing rewrites ``bank.json`` first, then deletes the directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError, did_you_mean
from analora.files import atomic_directory, atomic_write_json, read_json

FORMAT = "analora-bank/1"
FILE = "bank.json"


class BankError(AnaloraError):
    """A bank cannot be read, extended or served as asked."""


def read_bank(bank_dir: str | Path) -> dict[str, Any]:
    """The bank record of ``bank_dir``, checked."""
    d = Path(bank_dir)
    record = read_json(d / FILE, BankError, "create the bank with 'analora bank add BANK RUN'")
    if record.get("format") != FORMAT or not isinstance(record.get("adapters"), dict):
        raise BankError(f"{d / FILE} is not an {FORMAT} file: pass a bank directory")
    return record


def verify_bank(bank_dir: str | Path, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bank record, with every entry checked against its files: the
    entry's directory, its ``run.json`` and ``deployment.json``, the adapter's
    files against their checksums (:func:`~analora.adapters.read_adapter_meta`)
    and the weights against the checksum the bank recorded when it was added.
    A damaged entry is refused with the command that removes it."""
    from analora.adapters.adapter_files import AdapterError, read_adapter_meta
    from analora.files import sha256_file

    d = Path(bank_dir)
    record = read_bank(d) if record is None else record
    for name, entry in record["adapters"].items():
        where = d / str(entry.get("dir", f"adapters/{name}"))
        fix = f"remove it ('analora bank remove {d} {name}') and add its run again" + (
            f" ({entry['source']})" if entry.get("source") else ""
        )
        try:
            for f in ("run.json", "deployment.json"):
                read_json(where / f, BankError, fix)
            read_adapter_meta(where / "adapter")
            weights = where / "adapter" / "adapter_model.safetensors"
            if sha256_file(weights) != entry.get("weights_sha256"):
                raise BankError(f"{weights} is not the adapter the bank added")
        except (AdapterError, BankError, OSError) as exc:
            reason = str(exc).split(": ")[0] if isinstance(exc, AnaloraError) else str(exc)
            raise BankError(f"the bank's adapter {name!r} is damaged ({reason}): {fix}") from None
    return record


def weight_counts(path: str | Path) -> tuple[int, int]:
    """(LoRA, other) parameter counts of a safetensors file, from its header
    alone (8-byte little-endian length, then JSON); no torch needed."""
    import json
    import struct

    with Path(path).open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    lora = other = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        count = 1
        for dim in info["shape"]:
            count *= int(dim)
        if ".lora_" in key:
            lora += count
        else:
            other += count
    return lora, other


def _run_files(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from analora.adapters import read_adapter_meta
    from analora.training.deployment import read_deployment

    record = read_deployment(run_dir)
    from analora.training.registry import method_names

    adapter_methods = method_names(trains="adapter", analog=True)
    if record.get("method") not in adapter_methods:
        raise BankError(
            f"{run_dir} holds a {record.get('method')} deployment: a bank holds adapters "
            f"trained on a chip ({', '.join(adapter_methods)})"
        )
    run = read_json(run_dir / "run.json", BankError, "pass an output directory of 'analora train'")
    meta = read_adapter_meta(run_dir / "adapter")
    return record, run, meta


def _new_bank(record: dict[str, Any], run: dict[str, Any], meta: dict[str, Any]) -> dict:
    from analora.tasks import get_task
    from analora.training.methods import HEADS

    spec = get_task(record["task"])
    return {
        "format": FORMAT,
        "model": record["model"].get("path"),
        "model_class": spec.model_class,
        "head": run.get("head") or HEADS[spec.model_class],
        "pooling": run.get("pooling") or "cls",
        "model_fingerprint": meta["model_fingerprint"],
        "hardware": meta.get("hardware"),
        "hardware_fingerprint": meta["hardware_fingerprint"],
        "chip": None,
        "adapters": {},
    }


def _check_binding(bank: dict[str, Any], record: dict, run: dict, meta: dict, src: Path) -> None:
    from analora.tasks import get_task
    from analora.training.methods import HEADS

    if meta["model_fingerprint"] != bank["model_fingerprint"]:
        raise BankError(
            f"the adapter in {src} was trained on another base model "
            f"({meta['model_fingerprint'][:12]} != {bank['model_fingerprint'][:12]}): "
            "a bank holds adapters of one programmed model"
        )
    if meta["hardware_fingerprint"] != bank["hardware_fingerprint"]:
        raise BankError(
            f"the adapter in {src} was trained for hardware "
            f"{(meta.get('hardware') or {}).get('name')!r}, not the bank's "
            f"{(bank.get('hardware') or {}).get('name')!r}: retrain it under the bank's config"
        )
    spec = get_task(record["task"])
    head = run.get("head") or HEADS[spec.model_class]
    if spec.model_class != bank["model_class"] or head != bank["head"]:
        raise BankError(
            f"the adapter in {src} is a {spec.model_class} adapter with head {head!r}; the bank "
            f"serves {bank['model_class']} with head {bank['head']!r}: start another bank"
        )
    pooling, served = run.get("pooling") or "cls", bank.get("pooling") or "cls"
    if spec.model_class == "sequence-classification" and pooling != served:
        raise BankError(
            f"the adapter in {src} was trained with {pooling} pooling; the bank's heads see "
            f"{served} pooling: retrain it with --pooling {served} or start another bank"
        )
    bound = meta.get("chip_fingerprint")
    chip = bank.get("chip")
    if bound is not None and chip is not None and chip["fingerprint"] != bound:
        raise BankError(
            f"the adapter in {src} is calibrated to chip {bound[:12]} (seed "
            f"{meta.get('chip_seed')}), but the bank serves chip {chip['fingerprint'][:12]} "
            f"(seed {chip['seed']}): put it in a bank for its own chip"
        )


def add_to_bank(bank_dir: str | Path, run_dir: str | Path, name: str | None = None) -> dict:
    """Copy the adapter of an ``analora train`` run into the bank (created on
    first use) under ``name`` (default: its task); return the new entry."""
    from analora.files import output_lock

    with output_lock(bank_dir, "analora bank add", beside=True):
        return _add(bank_dir, run_dir, name)


def _add(bank_dir: str | Path, run_dir: str | Path, name: str | None) -> dict:
    d, src = Path(bank_dir), Path(run_dir)
    record, run, meta = _run_files(src)
    name = name or str(record["task"])
    if not name.replace("-", "").replace("_", "").isalnum():
        raise BankError(f"adapter name {name!r} is invalid: use letters, digits, '-' and '_'")
    if (d / FILE).is_file():
        bank = read_bank(d)
    elif d.exists() and (not d.is_dir() or any(d.iterdir())):
        raise BankError(f"{d} is not a bank and not empty: choose another bank directory")
    else:
        bank = _new_bank(record, run, meta)
    if name in bank["adapters"]:
        raise BankError(f"the bank already holds {name!r}: remove it first, or pass --name")
    _check_binding(bank, record, run, meta, src)
    from analora.files import sha256_file

    with atomic_directory(d / "adapters" / name) as tmp:
        shutil.copytree(src / "adapter", tmp / "adapter")
        for f in ("run.json", "deployment.json"):
            shutil.copy2(src / f, tmp / f)
    lora, head = weight_counts(d / "adapters" / name / "adapter" / "adapter_model.safetensors")
    entry = {
        "dir": f"adapters/{name}",
        "task": record["task"],
        "method": record["method"],
        "source": str(src.resolve()),
        "weights_sha256": sha256_file(
            d / "adapters" / name / "adapter" / "adapter_model.safetensors"
        ),
        "chip_fingerprint": meta.get("chip_fingerprint"),
        "lora_params": lora,
        "head_params": head,
        "fp16_bytes": 2 * (lora + head),
        "max_length": run.get("max_length"),
        "metrics": meta.get("metrics", {}),
    }
    if meta.get("chip_fingerprint") is not None and bank.get("chip") is None:
        chip_rec = record.get("chip") or {}
        bank["chip"] = {
            "seed": meta.get("chip_seed"),
            "fingerprint": meta["chip_fingerprint"],
            "path": chip_rec.get("path"),
        }
    bank["adapters"][name] = entry
    atomic_write_json(d / FILE, bank)
    return entry


def remove_from_bank(bank_dir: str | Path, name: str) -> None:
    """Drop an adapter from the bank (``bank.json`` first, then its files)."""
    from analora.files import output_lock

    with output_lock(bank_dir, "analora bank remove", beside=True):
        _remove(bank_dir, name)


def _remove(bank_dir: str | Path, name: str) -> None:
    d = Path(bank_dir)
    bank = read_bank(d)
    if name not in bank["adapters"]:
        names = list(bank["adapters"])
        raise BankError(
            f"the bank holds no adapter {name!r} (it holds {', '.join(names) or 'none'})"
            f"{did_you_mean(name, names)}: check 'analora bank list'"
        )
    del bank["adapters"][name]
    if not any(e.get("chip_fingerprint") for e in bank["adapters"].values()):
        bank["chip"] = None  # no adapter binds the bank to a chip any more
    atomic_write_json(d / FILE, bank)
    shutil.rmtree(d / "adapters" / name, ignore_errors=True)


def load_bank(bank_dir: str | Path, chip_seed: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The bank in memory: its base model converted, programmed on a chip
    (the bank's own chip when an adapter is calibrated to one; else seed
    ``chip_seed``, default 0) and every adapter added. Returns
    (:class:`~analora.adapters.bank.AdapterBank`, bank record)."""
    from analora.adapters.bank import AdapterBank
    from analora.analog import convert, load_chip, program
    from analora.hardware import HardwareConfig
    from analora.models import load_model
    from analora.tasks import get_task
    from analora.training.pooling import apply_pooling

    d = Path(bank_dir)
    bank = verify_bank(d)
    if not bank["adapters"]:
        raise BankError(f"the bank in {d} is empty: add an adapter first")
    if not bank.get("model"):
        raise BankError(f"{d / FILE} names no base model: rebuild the bank from its runs")
    first = next(iter(bank["adapters"].values()))
    spec = get_task(first["task"])
    kwargs = (
        {"num_labels": spec.num_labels} if spec.model_class == "sequence-classification" else {}
    )
    base = load_model(bank["model"], bank["model_class"], **kwargs)
    apply_pooling(base, bank.get("pooling") or "cls")
    hardware = HardwareConfig.from_dict(bank["hardware"])
    convert(base, hardware, exclude=[bank["head"]])
    chip_rec = bank.get("chip")
    if chip_rec is not None:
        if chip_seed is not None and chip_seed != chip_rec["seed"]:
            raise BankError(
                f"the bank is bound to chip seed {chip_rec['seed']} by a chip-calibrated "
                f"adapter: serve it on that chip (--chip-seed {chip_rec['seed']})"
            )
        if chip_rec.get("path") and Path(chip_rec["path"]).is_dir():
            chip = load_chip(chip_rec["path"], base)
        else:
            chip = program(base, seed=int(chip_rec["seed"]))
    else:
        chip = program(base, seed=0 if chip_seed is None else chip_seed)
    served = AdapterBank(chip, head=bank["head"])
    for name, entry in bank["adapters"].items():
        served.add(name, d / entry["dir"] / "adapter")
    return served, bank
