"""Leftovers of a killed job do not stop its rerun; directories follow the
umask; fingerprints; an output directory has one writer at a time."""

import fcntl
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from analora.errors import OutputLockedError
from analora.files import (
    LOCK_NAME,
    atomic_directory,
    atomic_write_text,
    fingerprint_path,
    is_fresh_directory,
    output_lock,
    sha256_file,
)


def test_fresh_directory(tmp_path: Path) -> None:
    assert is_fresh_directory(tmp_path / "missing")
    out = tmp_path / "sweep"
    out.mkdir()
    assert is_fresh_directory(out)
    (out / ".write-test").write_text("")  # a write probe cut off before its unlink
    (out / ".sweep.json.k2j3").write_text("{")  # an atomic write cut off before its rename
    assert is_fresh_directory(out)
    (out / "notes.txt").write_text("mine")
    assert not is_fresh_directory(out)
    (out / "notes.txt").unlink()
    (out / ".hidden-dir").mkdir()
    assert not is_fresh_directory(out)
    assert not is_fresh_directory(tmp_path / "sweep" / ".write-test")  # a file, not a directory


# --- permissions ---------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750), (0o077, 0o700)])
def test_atomic_directory_honours_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        with atomic_directory(tmp_path / "chip") as tmp:
            (tmp / "weights").write_bytes(b"x")
            (tmp / "private").write_bytes(b"x")
            os.chmod(tmp / "private", 0o600)  # as safetensors' writer leaves its files
            (tmp / "sub").mkdir(mode=0o700)
            (tmp / "sub" / "t").write_bytes(b"x")
        atomic_write_text(tmp_path / "chip" / "meta.json", "{}")
    finally:
        os.umask(old)
    chip = tmp_path / "chip"
    assert stat.S_IMODE(chip.stat().st_mode) == mode
    assert stat.S_IMODE((chip / "sub").stat().st_mode) == mode
    for name in ("meta.json", "weights", "private", "sub/t"):
        assert stat.S_IMODE((chip / name).stat().st_mode) == mode & 0o666, name


def test_saved_safetensors_are_as_shared_as_the_umask_allows(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "chip") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp / "chip.safetensors"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "chip" / "chip.safetensors").stat().st_mode) == 0o644


# --- fingerprints --------------------------------------------------------


def test_fingerprint_path(tmp_path: Path) -> None:
    f = tmp_path / "train.jsonl"
    f.write_text('{"a": 1}\n')
    assert fingerprint_path(f) == sha256_file(f)
    d = tmp_path / "deploy"
    (d / "adapter").mkdir(parents=True)
    (d / "run.json").write_text("{}")
    (d / "adapter" / "w.safetensors").write_bytes(b"\x00\x01")
    first = fingerprint_path(d)
    assert len(first) == 64 and fingerprint_path(d) == first
    (d / ".analora.lock").write_text("held")  # locks and temporary files do not count
    os.utime(d / "run.json", (0, 0))  # nor do times
    assert fingerprint_path(d) == first
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(d, copy)
    assert fingerprint_path(copy) == first  # nor the directory's own name and place
    (d / "adapter" / "w.safetensors").write_bytes(b"\x00\x02")
    second = fingerprint_path(d)
    assert second != first
    (d / "adapter" / "w.safetensors").rename(d / "adapter" / "v.safetensors")
    assert fingerprint_path(d) not in (first, second)
    with pytest.raises(FileNotFoundError):
        fingerprint_path(tmp_path / "missing")


# --- output lock ---------------------------------------------------------


def test_lock_refuses_second_writer_and_releases(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with output_lock(out, command="analora sweep --out sweep"):
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["command"].startswith("analora sweep")
        with pytest.raises(OutputLockedError) as exc, output_lock(out, command="analora train"):
            pytest.fail("a second writer got the lock")
        msg = str(exc.value)
        assert "\n" not in msg and f"pid {os.getpid()}" in msg and "analora sweep" in msg
        assert "another --out" in msg
        assert is_fresh_directory(out)  # the lock file does not make the directory used
    assert not (out / LOCK_NAME).exists()
    with pytest.raises(RuntimeError), output_lock(out, command="x"):
        raise RuntimeError("the job failed")
    with output_lock(out, command="again"):  # released on failure too
        pass


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    out = tmp_path / "train"
    code = (
        "import sys, time; from analora.files import output_lock\n"
        "with output_lock(sys.argv[1], command='analora train'):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with (
            pytest.raises(OutputLockedError, match=f"pid {proc.pid} "),
            output_lock(out, command="analora train"),
        ):
            pass
    finally:
        proc.kill()
        proc.wait()
    with output_lock(out, command="analora train"):  # the kernel dropped the dead holder's lock
        pass


def _held_lock(out: Path, pid: int) -> int:
    """Lock ``out``'s lock file through a descriptor of our own, recording ``pid``."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    record = {"pid": pid, "host": socket.gethostname(), "command": "x", "started": 0}
    os.write(fd, json.dumps(record).encode())
    return fd


def test_stale_lock_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "sweep"
    fd = _held_lock(out, dead.pid)  # as a child that inherited a dead job's descriptor
    try:
        with output_lock(out, command="analora sweep"):
            assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    finally:
        os.close(fd)
    fd = _held_lock(tmp_path / "live", os.getppid())  # a live holder is not stale
    try:
        with pytest.raises(OutputLockedError), output_lock(tmp_path / "live", command="y"):
            pass
    finally:
        os.close(fd)


def test_lock_beside_a_directory_that_is_replaced(tmp_path: Path) -> None:
    chip = tmp_path / "chips" / "minilm"
    with output_lock(chip, command="analora chip program", beside=True):
        assert not chip.exists() and (tmp_path / "chips" / ".minilm.lock").is_file()
        with atomic_directory(chip) as tmp:
            (tmp / "chip.json").write_text("{}")
        with pytest.raises(OutputLockedError), output_lock(chip, command="again", beside=True):
            pass  # still held after the directory was replaced
    assert not (tmp_path / "chips" / ".minilm.lock").exists()


def _add_keys(path: str, prefix: str, n: int) -> None:
    from analora.files import update_json

    for i in range(n):
        update_json(Path(path), lambda data, i=i: data.update({f"{prefix}{i}": i}))


def test_two_processes_updating_one_json_record_keep_every_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import multiprocessing

    path = tmp_path / "timings.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_keys, args=(str(path), p, 100)) for p in "ab"]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    data = json.loads(path.read_text())
    assert len(data) == 200, sorted(set(f"{p}{i}" for p in "ab" for i in range(100)) - set(data))
    others = [p.name for p in tmp_path.iterdir() if p.name != "timings.json"]
    assert others == [".timings.json.lock"]  # no temporary file left
