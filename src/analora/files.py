"""Small file helpers shared by every artefact analora writes (chips,
adapters, training checkpoints, run records, results): atomic directory and
file writes, checksums, and JSON metadata read with a one-line error that
names the fix. Standard library only, so that results can be read and
reported without torch."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError


@contextlib.contextmanager
def atomic_directory(out: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; when the block succeeds it
    replaces ``out`` (any old one is moved aside first, then deleted), and when
    it fails it is removed, so ``out`` is never left half-written."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | Path, error: type[AnaloraError], fix: str) -> dict[str, Any]:
    """A JSON object from ``path``; a missing or unreadable file raises
    ``error`` with one line ending in ``fix``."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p.parent} holds no {p.name}: {fix}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{p} is unreadable ({exc.__class__.__name__}): {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{p} does not hold a JSON object: {fix}")
    return data


def is_fresh_directory(path: str | Path) -> bool:
    """True when ``path`` does not exist, or is a directory holding nothing
    but hidden files: the temporary siblings of :func:`atomic_write_text`
    and write probes that a killed process leaves behind. A job may start
    (or restart) in such a directory."""
    p = Path(path)
    if not p.exists():
        return True
    return p.is_dir() and all(e.name.startswith(".") and e.is_file() for e in p.iterdir())


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file through a temporary sibling and one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any, indent: int = 1) -> None:
    """JSON through :func:`atomic_write_text`."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")
