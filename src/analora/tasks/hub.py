"""Loading tasks from the Hugging Face Hub through ``datasets.load_dataset``.

GLUE comes from ``nyu-mll/glue`` (one config per task, e.g. ``sst2``; MNLI's
dev sets are the splits ``validation_matched`` and ``validation_mismatched``),
SQuAD v1.1 from ``rajpurkar/squad``. Hub splits are cut down to the columns
and features a local folder gives (see :mod:`analora.tasks.glue` and
:mod:`analora.tasks.squad`), so downstream code never sees the difference.
GLUE's unlabelled ``test`` splits are not used.

``datasets.load_dataset`` is looked up at call time, so tests can replace it
with a function returning an in-memory ``DatasetDict``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from datasets import Dataset, DatasetDict

from analora.errors import DataError
from analora.tasks.glue import features_for
from analora.tasks.registry import TaskSpec
from analora.tasks.squad import FEATURES as SQUAD_FEATURES
from analora.tasks.squad import devsplit
from analora.tasks.validate import validate_dataset

logger = logging.getLogger(__name__)

_NETWORK_MODULES = ("huggingface_hub", "datasets", "requests", "httpx", "urllib3", "fsspec")


def hub_id(spec: TaskSpec) -> str:
    """``path`` or ``path/config`` as shown to users."""
    return spec.hub_path + (f"/{spec.hub_config}" if spec.hub_config else "")


def is_hub_failure(exc: BaseException) -> bool:
    """Whether an exception from ``load_dataset`` means "the Hub could not serve this"."""
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return True
    return type(exc).__module__.split(".")[0] in _NETWORK_MODULES


def load_hub_dataset(spec: TaskSpec) -> DatasetDict:
    """The raw Hub ``DatasetDict`` of a task; Hub failures raise :class:`DataError`."""
    import datasets

    from analora.hub import hub_reachable, offline_mode

    # Unreachable Hub: load from the local Hugging Face cache only, at once,
    # instead of retrying for tens of seconds.
    guard = contextlib.nullcontext() if hub_reachable() else offline_mode()
    try:
        with guard:
            loaded = datasets.load_dataset(spec.hub_path, spec.hub_config)
    except Exception as exc:
        if not is_hub_failure(exc):
            raise
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise DataError(
            f"could not load {spec.name} from the Hugging Face Hub ({hub_id(spec)}: {reason}); "
            "pass --data-dir with a local copy or set ANALORA_DATA_DIR"
        ) from None
    if not isinstance(loaded, DatasetDict):
        raise DataError(f"{hub_id(spec)} did not return a DatasetDict: use a local --data-dir")
    return loaded


def normalise(spec: TaskSpec, split: str, ds: Dataset) -> Dataset:
    """Keep the task's columns and cast them to the local loaders' features."""
    features = SQUAD_FEATURES if spec.head == "question-answering" else features_for(spec)
    missing = [c for c in features if c not in ds.column_names]
    if missing:
        raise DataError(
            f"{hub_id(spec)} split {split!r} lacks columns {', '.join(missing)} "
            f"(has {', '.join(ds.column_names)}): the Hub schema changed; use --data-dir"
        )
    ds = ds.select_columns(list(features))
    if ds.features != features:
        ds = ds.cast(features)
    if len(ds) == 0:
        raise DataError(f"{hub_id(spec)} split {split!r} is empty: use a local --data-dir")
    validate_dataset(
        spec,
        ds,
        lambda i: f"{hub_id(spec)} split {split!r} row {i}",
        "pass --data-dir with a corrected local copy",
    )
    return ds


def load_from_hub(
    spec: TaskSpec, splits: Sequence[str] | None = None, split_seed: int = 0
) -> DatasetDict:
    """Normalised splits of a task from the Hub (all of the task's splits by default)."""
    raw = load_hub_dataset(spec)
    wanted = list(splits or spec.splits)
    if spec.name == "squad-devsplit":
        if "validation" not in raw:
            raise DataError(f"{hub_id(spec)} has no 'validation' split: use a local --data-dir")
        parts = devsplit(normalise(spec, "validation", raw["validation"]), split_seed)
        return DatasetDict({s: parts[s] for s in wanted})
    out = {}
    for split in wanted:
        if split not in raw:
            raise DataError(
                f"{hub_id(spec)} has no split {split!r} (has {', '.join(raw)}): "
                f"choose one of {', '.join(spec.splits)}"
            )
        out[split] = normalise(spec, split, raw[split])
    logger.info("loaded %s from the Hub (%s)", spec.name, hub_id(spec))
    return DatasetDict(out)
