"""Where a result came from: package versions, the source revision, and
content fingerprints of the files a job reads.

Imports nothing of analora but its errors, so every layer may use it.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("analora", "torch", "transformers", "peft", "safetensors", "aihwkit")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (absent packages left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    """The git commit of the analora source in use (``+dirty`` if modified), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = _git(here, "rev-parse", "HEAD")
        dirty = _git(here, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def fingerprint_path(path: str | Path) -> str:
    """SHA-256 of a file's bytes, or of a directory tree: every regular file's
    relative path and bytes, in sorted order (hidden files, such as the
    leftovers of an interrupted atomic write, and lock files are skipped)."""
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_file():
        _feed(digest, p)
        return digest.hexdigest()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        rel = f.relative_to(p)
        if any(part.startswith(".") for part in rel.parts):
            continue
        digest.update(str(rel.as_posix()).encode() + b"\0")
        _feed(digest, f)
    return digest.hexdigest()


def _feed(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
