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

from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json, read_json

FORMAT = "analora-deployment/1"
FILE = "deployment.json"
KINDS = ("digital", "model", "adapter")


def write_deployment(out_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``deployment.json`` atomically (temporary file, then rename)."""
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
