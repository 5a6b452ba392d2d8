"""``deployment.json``: what a method's output directory deploys, and how.

Every method writes one beside its artefacts, so that sweeps and reports can
rebuild the deployment from the directory alone:

* ``digital`` / ``digital-lora``: a digital model (the reference; no chip);
* ``direct`` / ``ahwa``: a model to program (``model.path``, a Hugging Face
  directory or a trained analog model), on any number of chips;
* ``ahwa-lora`` / ``chip-lora``: a chip recipe (the base model as given,
  the hardware config and the chip seed, or a saved chip) plus the adapter.

Paths inside the run directory are relative to it; a base model outside it is
recorded as given (an alias or Hub id) or as an absolute path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json, read_json

FORMAT = "analora-deployment/1"
FILE = "deployment.json"
KINDS = ("digital", "model", "adapter")


@dataclass(frozen=True)
class Deployment:
    """One ``deployment.json``: what a run directory deploys.

    ``model_path`` is relative to the run directory for a model the run saved,
    else the base model as given; ``model_format`` is ``hf`` or ``analog`` (a
    trained analog model). ``chip`` holds ``seed``, ``path``, ``fingerprint``
    and ``trained_at_age_s`` for adapters trained on a chip; ``evaluation`` the
    split, age and metrics of the run's own evaluation."""

    kind: str
    method: str
    task: str
    model_path: str | None
    model_format: str = "hf"
    adapter: str | None = None
    hardware: dict[str, Any] | None = None
    chip: dict[str, Any] | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AnaloraError(f"deployment kind {self.kind!r} is not one of {KINDS}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "method": self.method,
            "task": self.task,
            "model": {"path": self.model_path, "format": self.model_format},
            "adapter": self.adapter,
            "hardware": self.hardware,
            "chip": self.chip,
            "eval": self.evaluation,
            "train": self.train,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Deployment:
        model = record.get("model") or {}
        return cls(
            kind=record["kind"],
            method=record["method"],
            task=record["task"],
            model_path=model.get("path"),
            model_format=model.get("format", "hf"),
            adapter=record.get("adapter"),
            hardware=record.get("hardware"),
            chip=record.get("chip"),
            evaluation=record.get("eval") or {},
            train=record.get("train"),
        )


def write_deployment(out_dir: str | Path, record: Deployment | dict[str, Any]) -> Path:
    """Write ``deployment.json`` atomically (temporary file, then rename)."""
    if isinstance(record, Deployment):
        record = record.to_dict()
    if record.get("kind") not in KINDS:
        raise AnaloraError(f"deployment kind {record.get('kind')!r} is not one of {KINDS}")
    path = Path(out_dir) / FILE
    atomic_write_json(path, {"format": FORMAT, **record})
    return path


def read_deployment(run_dir: str | Path) -> dict[str, Any]:
    """The deployment record of a method's output directory, checked."""
    d = Path(run_dir)
    fix = "pass an output directory of 'analora train'"
    record = read_json(d / FILE, AnaloraError, fix)
    if record.get("format") != FORMAT or record.get("kind") not in KINDS:
        raise AnaloraError(f"{d / FILE} is not an {FORMAT} file: {fix}")
    return record


def model_reference(spec: str) -> str:
    """A base model as a deployment records it: an existing path made
    absolute, an alias or Hub id kept as given."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec
