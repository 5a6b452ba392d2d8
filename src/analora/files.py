"""Small file helpers shared by every artefact analora writes (chips,
adapters, training checkpoints, run records, results): atomic directory and
file writes, checksums, and JSON metadata read with a one-line error that
names the fix; an exclusive lock on an output directory; fingerprints of the
files and directories a job reads. Standard library only, so that results
can be read and reported without torch."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError, OutputLockedError

log = logging.getLogger(__name__)

LOCK_NAME = ".analora.lock"


def current_umask() -> int:
    """The process umask. Read from /proc where it exists (no window in which
    another thread sees umask 0), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_directory(out: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; when the block succeeds it
    replaces ``out`` (any old one is moved aside first, then deleted), and when
    it fails it is removed, so ``out`` is never left half-written."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        umask = current_umask()
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700: shared artefacts stay shared
        yield tmp
        for entry in tmp.rglob("*"):  # safetensors writes its files 0600: share them too
            if entry.is_symlink():
                continue
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~umask)
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
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any, indent: int = 1) -> None:
    """JSON through :func:`atomic_write_text`."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def update_json(path: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read a JSON object (``{}`` when absent), let ``change`` edit it, and
    write it back atomically, all under an exclusive lock on a hidden sibling
    file: two processes updating one record (two study stages run side by
    side) each keep their change. Returns the object written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        change(data)
        atomic_write_json(path, data)
    return data


def fingerprint_path(path: str | Path) -> str:
    """Hex sha256 of what ``path`` holds: a file's bytes, or for a directory
    every file below it (hidden ones, such as locks and cut-off temporary
    files, left out) as its relative name and its bytes' sha256, in sorted
    order. Renaming, adding, removing or changing a file changes it; the
    directory's own name, its place and the files' times do not."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if not p.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such file or directory", str(p))
    h = hashlib.sha256(b"analora-directory-v1\0")
    for rel in _visible_files(p):
        h.update(rel.encode("utf-8") + b"\0" + sha256_file(p / rel).encode("ascii") + b"\n")
    return h.hexdigest()


def _visible_files(root: Path) -> list[str]:
    """Relative POSIX names of the files below ``root``, hidden ones (and
    everything in hidden directories) left out, sorted."""
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        names += [(rel_dir / f).as_posix() for f in filenames if not f.startswith(".")]
    return sorted(names)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    since = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    who = f"pid {holder.get('pid')} on {holder.get('host')}"
    return f"{holder.get('command', '?')!r} ({who}, since {when})"


def _is_stale(holder: dict[str, Any]) -> bool:
    """The recorded holder is a process on this host that no longer runs
    (its lock lives on in a child that inherited the descriptor)."""
    pid = holder.get("pid")
    return (
        holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid)
    )


def _try_lock(lock: Path) -> tuple[int | None, dict[str, Any]]:
    """Open and lock ``lock``; (fd, {}) on success, (None, holder) when
    another process holds it. Retries when the file was replaced between the
    open and the lock, so that two processes never hold two different files."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666 & ~current_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            return None, holder
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, {}
        os.close(fd)


@contextlib.contextmanager
def output_lock(directory: str | Path, command: str, *, beside: bool = False) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (created if missing) while the
    block runs: a second writer is refused at once with
    :class:`OutputLockedError` naming who holds it. The lock is an ``flock`` on
    ``directory/.analora.lock``, which records pid, host, command and start
    time; the kernel drops it when its holder ends, however it ends. A lock
    still held after its recorded process died on this host (a child kept the
    descriptor) is stale and taken over.

    A directory that :func:`atomic_directory` replaces as a whole (a chip, a
    model) would take a lock inside it away: ``beside=True`` locks
    ``.<name>.lock`` in its parent instead, and does not create ``directory``."""
    d = Path(directory)
    where = d.parent if beside else d
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnaloraError(
            f"cannot create {where} ({exc.strerror or exc}): a file or an unwritable "
            "directory is in the way; choose another --out"
        ) from None
    lock = d.parent / f".{d.name}.lock" if beside else d / LOCK_NAME
    fd, holder = _try_lock(lock)
    if fd is None and _is_stale(holder):
        log.warning("taking over the stale lock of %s in %s", _describe(holder), d)
        lock.unlink(missing_ok=True)
        fd, holder = _try_lock(lock)
    if fd is None:
        raise OutputLockedError(
            f"{d} is being written by {_describe(holder)}: wait for it to end, "
            "or choose another --out"
        )
    try:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": time.time(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        yield d
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)
