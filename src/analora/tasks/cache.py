"""An on-disk cache of tokenised datasets, keyed by everything that shapes them.

The key is the SHA-256 of: the tokenizer's name and a hash of its full
definition (vocabulary, merges, normaliser, special tokens), the task, the
split, the max length, the SQuAD doc stride and feature kind, a hash of the
input rows (so a subset or another data source gets its own entry), and
:data:`PREPROCESS_VERSION`, bumped whenever the preprocessing code changes what
it writes.

Entries are written with ``Dataset.save_to_disk`` into a temporary directory
next to the final one and renamed into place, so a crash or a concurrent
writer never leaves a half-written entry behind.

Location: the ``cache_dir`` argument (CLI ``--cache-dir``), else
``$ANALORA_CACHE_DIR``, else ``~/.cache/analora/tokenized``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk

from analora.errors import DataError
from analora.files import current_umask, sha256_file

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "ANALORA_CACHE_DIR"
PREPROCESS_VERSION = 1
_META = "analora-cache.json"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache directory (argument, else ``$ANALORA_CACHE_DIR``, else ``~/.cache``)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "analora" / "tokenized"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of what the tokenizer does, not just its name.

    A fast tokenizer serialises to its whole ``tokenizer.json`` (vocabulary
    included); a slow one contributes its vocabulary. Special tokens, padding
    and truncation sides are added because they change the ids written.
    """
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # A call with truncation or padding stores them in the backend; they are
        # per-call settings (given again by every call), not what the tokenizer is.
        definition = json.loads(backend.to_str())
        definition["truncation"] = definition["padding"] = None
        h.update(json.dumps(definition, sort_keys=True).encode("utf-8"))
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode("utf-8"))
    extra = {
        "class": type(tokenizer).__name__,
        "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
    }
    h.update(json.dumps(extra, sort_keys=True).encode("utf-8"))
    return h.hexdigest()


def rows_fingerprint(dataset: Dataset, columns: Iterable[str]) -> str:
    """A hash of the given columns' values, in row order."""
    h = hashlib.sha256()
    for col in columns:
        h.update(col.encode("utf-8") + b"\x00")
        h.update(json.dumps(dataset[col][:], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def cache_key(parts: Mapping[str, object]) -> str:
    """SHA-256 of the key parts (with the preprocessing version added)."""
    text = json.dumps({**parts, "preprocess_version": PREPROCESS_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cached_dataset(
    parts: Mapping[str, object],
    build: Callable[[], Dataset],
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> tuple[Dataset, bool, Path | None]:
    """(dataset, from_cache, entry path): load the entry for ``parts`` or build and store it."""
    if not use_cache:
        return build(), False, None
    root = cache_root(cache_dir)
    key = cache_key(parts)
    entry = root / key
    if (entry / _META).is_file():
        cached = _load_entry(entry)
        if cached is not None:
            logger.info("tokenised data from cache %s", entry)
            return cached, True, entry
    dataset = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700: a shared cache stays shared
    except OSError as exc:
        raise DataError(
            f"cannot write the token cache in {root} ({exc.strerror or exc}): pass --cache-dir "
            f"or set {CACHE_DIR_ENV} to a writable folder"
        ) from None
    try:
        dataset.save_to_disk(str(tmp))
        meta = {
            **parts,
            "preprocess_version": PREPROCESS_VERSION,
            "rows": len(dataset),
            "files_sha256": _checksums(tmp),
        }
        (tmp / _META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if entry.exists() and _load_entry(entry) is None:
            shutil.rmtree(entry, ignore_errors=True)  # damaged, or not an entry of ours
        try:
            tmp.rename(entry)
        except OSError:
            # Another process finished the same entry first; its copy is equivalent.
            if not (entry / _META).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("tokenised data cached in %s", entry)
    return load_from_disk(str(entry)), False, entry


def _checksums(entry: Path) -> dict[str, str]:
    """sha256 of every file of an entry but its metadata, by relative name."""
    return {
        p.relative_to(entry).as_posix(): sha256_file(p)
        for p in sorted(entry.rglob("*"))
        if p.is_file() and p.name != _META
    }


def _load_entry(entry: Path) -> Dataset | None:
    """The dataset of a cache entry, or None (with a warning) when the entry
    is damaged: unreadable metadata, files whose checksums differ (an entry
    written before checksums were recorded counts as damaged), or a dataset
    that does not load or has another number of rows. A damaged entry is
    rebuilt by the caller."""
    try:
        meta = json.loads((entry / _META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("files_sha256") != _checksums(entry):
            raise ValueError("files differ from their checksums")
        dataset = load_from_disk(str(entry))
        if not isinstance(dataset, Dataset) or len(dataset) != meta.get("rows"):
            raise ValueError("row count differs")
    except Exception as exc:
        logger.warning("token cache entry %s is damaged (%s); rebuilding it", entry, exc)
        return None
    return dataset
