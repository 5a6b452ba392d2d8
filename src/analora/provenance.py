"""Where a result came from: package versions, the source revision (content
fingerprints of files: :func:`analora.files.fingerprint_path`) and the
process's peak memory.

Imports nothing of analora but its errors, so every layer may use it.
"""

from __future__ import annotations

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


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB): VmHWM, which unlike
    ``ru_maxrss`` is not inherited from the parent across fork and exec;
    ``ru_maxrss`` where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
