"""Where a task's data comes from: a local folder or the Hugging Face Hub.

Order of resolution (the first that applies wins):

1. ``source="hub"`` or ``source="local"`` forces one kind of source;
2. the ``data_dir`` argument (CLI ``--data-dir``);
3. the environment variable ``ANALORA_DATA_DIR``;
4. the Hub (``nyu-mll/glue``, ``rajpurkar/squad``).

A data root holds GLUE folders as ``glue/<Task>/`` (or ``<Task>/`` directly, as
in the ``glue_data`` folder GLUE's download script writes) and SQuAD files as
``squad/v1.1/*.json`` (or ``squad/*.json``, or in the root). When the root has
no folder for the task (e.g. QNLI in ``../shared/data``), the Hub is tried next
and, if it fails too, the error names both places.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict

from analora.errors import DataError
from analora.tasks.cache import rows_fingerprint
from analora.tasks.glue import find_glue_folder, load_glue_split
from analora.tasks.hub import hub_id, load_from_hub
from analora.tasks.registry import TaskSpec, get_task
from analora.tasks.squad import devsplit, find_squad_file, load_squad_file

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "ANALORA_DATA_DIR"
SOURCES = ("local", "hub")


@dataclass(frozen=True)
class TaskData:
    """A task's normalised splits and a note of where they came from."""

    spec: TaskSpec
    splits: DatasetDict
    origin: str


def data_root(data_dir: str | Path | None = None) -> Path | None:
    """The local data root: ``data_dir``, else ``$ANALORA_DATA_DIR``, else None."""
    if data_dir is not None and str(data_dir) != "":
        root, how = Path(data_dir).expanduser(), "--data-dir"
    elif os.environ.get(DATA_DIR_ENV):
        root, how = Path(os.environ[DATA_DIR_ENV]).expanduser(), DATA_DIR_ENV
    else:
        return None
    if not root.is_dir():
        raise DataError(f"{how} {root} is not a directory: pass an existing data folder")
    return root


def _local_places(spec: TaskSpec, root: Path) -> str:
    if spec.head == "question-answering":
        name = spec.split_files["validation"]
        return f"{root / spec.folder / name}, {root / 'squad' / name}, {root / name}"
    return f"{root / 'glue' / spec.folder}, {root / spec.folder}"


def has_local(spec: TaskSpec, root: Path) -> bool:
    """Whether the root holds any file of the task."""
    if spec.head == "question-answering":
        return any(find_squad_file(spec, root, s) for s in spec.splits)
    return find_glue_folder(spec, root) is not None


def load_local(
    spec: TaskSpec, root: Path, splits: Sequence[str] | None = None, split_seed: int = 0
) -> DatasetDict:
    """Normalised splits from a local data root.

    With ``splits=None`` every split whose file is present is loaded (missing
    ones are left out); a split asked for by name must be present.
    """
    if spec.name == "squad-devsplit":
        path = find_squad_file(spec, root, "validation")
        if path is None:
            raise DataError(
                f"squad-devsplit needs dev-v1.1.json (looked in {_local_places(spec, root)}): "
                "put the official file there or pass another --data-dir"
            )
        parts = devsplit(load_squad_file(path), split_seed)
        return DatasetDict({s: parts[s] for s in (splits or spec.splits)})
    present = []
    for split in spec.splits:
        if spec.head == "question-answering":
            found = find_squad_file(spec, root, split) is not None
        else:
            folder = find_glue_folder(spec, root)
            found = folder is not None and (folder / spec.split_files[split]).is_file()
        if found:
            present.append(split)
    wanted = list(splits) if splits else present
    if not wanted:
        raise DataError(
            f"no {spec.name} files under {root} (looked in {_local_places(spec, root)}): "
            "add them or pass another --data-dir"
        )
    skipped = [s for s in spec.splits if s not in wanted]
    if skipped and not splits:
        logger.info("%s: no local file for split(s) %s", spec.name, ", ".join(skipped))
    out = {}
    for split in wanted:
        if split not in spec.split_files:
            raise DataError(
                f"{spec.name} has no split {split!r}: choose one of {', '.join(spec.splits)}"
            )
        if spec.head == "question-answering":
            path = find_squad_file(spec, root, split)
            if path is None:
                raise DataError(
                    f"{spec.name} split {split!r} needs {spec.split_files[split]}, not found in "
                    f"{_local_places(spec, root)}: add the official file or pass another "
                    "--data-dir"
                    + (" (or use the task squad-devsplit)" if spec.name == "squad" else "")
                )
            out[split] = load_squad_file(path)
        else:
            folder = find_glue_folder(spec, root)
            assert folder is not None
            out[split] = load_glue_split(spec, folder, split)
    return DatasetDict(out)


def load_task(
    task: str | TaskSpec,
    splits: Sequence[str] | None = None,
    *,
    source: str | None = None,
    data_dir: str | Path | None = None,
    split_seed: int = 0,
) -> TaskData:
    """Load a task's splits, normalised to the Hub schema, from the resolved source.

    ``split_seed`` only matters for ``squad-devsplit`` (which articles are held out).
    """
    spec = get_task(task)
    if source is not None and source not in SOURCES:
        raise DataError(f"--source {source!r} is unknown: use 'local' or 'hub' (or leave it out)")
    if splits is not None:
        for split in splits:
            if split not in spec.split_files:
                raise DataError(
                    f"{spec.name} has no split {split!r}: choose one of {', '.join(spec.splits)}"
                )
    if source == "hub":
        return TaskData(spec, load_from_hub(spec, splits, split_seed), f"hub:{hub_id(spec)}")
    root = data_root(data_dir)
    if root is None and source == "local":
        raise DataError(
            f"--source local needs a data folder: pass --data-dir or set {DATA_DIR_ENV}"
        )
    if root is not None and (source == "local" or has_local(spec, root)):
        return TaskData(spec, load_local(spec, root, splits, split_seed), f"local:{root}")
    if root is not None:
        logger.info("no %s files under %s; trying the Hub", spec.name, root)
        try:
            data = load_from_hub(spec, splits, split_seed)
        except DataError as exc:
            raise DataError(
                f"{spec.name} is neither under {root} (looked in {_local_places(spec, root)}) "
                f"nor reachable on the Hub ({hub_id(spec)}): add its files to the data folder "
                "or go online"
            ) from exc
        return TaskData(spec, data, f"hub:{hub_id(spec)}")
    return TaskData(spec, load_from_hub(spec, splits, split_seed), f"hub:{hub_id(spec)}")


def split_fingerprints(data: TaskData) -> dict[str, str]:
    """Per split, the sha256 of every row's normalised fields in order
    (:func:`analora.tasks.cache.rows_fingerprint`): it changes when any value
    of the data changes, and not when the same data is read from another
    path or source. For run records that must not resume on other data."""
    return {
        split: rows_fingerprint(ds, sorted(ds.column_names)) for split, ds in data.splits.items()
    }


def data_fingerprint(data: TaskData) -> str:
    """One sha256 over the task's name and :func:`split_fingerprints`."""
    body = json.dumps({"task": data.spec.name, "splits": split_fingerprints(data)}, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
