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
        h.update(backend.to_str().encode("utf-8"))
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
        logger.info("tokenised data from cache %s", entry)
        return load_from_disk(str(entry)), True, entry
    dataset = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    except OSError as exc:
        raise DataError(
            f"cannot write the token cache in {root} ({exc.strerror or exc}): pass --cache-dir "
            f"or set {CACHE_DIR_ENV} to a writable folder"
        ) from None
    try:
        dataset.save_to_disk(str(tmp))
        meta = {**parts, "preprocess_version": PREPROCESS_VERSION, "rows": len(dataset)}
        (tmp / _META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if entry.exists() and not (entry / _META).is_file():
            shutil.rmtree(entry)  # a stray directory without our marker, not an entry
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
