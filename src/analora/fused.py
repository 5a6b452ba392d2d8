"""Fused CPU kernels for the analog MVM, compiled once and cached.

The analog forward's per-element work around the GEMM (abs-max scaling and
the DAC before it; output noise, ADC, bound check, clamping, digital scales,
tile sum and bias after it) is memory-bound: done as separate torch
operations it reads and writes every output many times, and torch's CPU
normal generator is itself slower than the rest. The kernels in
:mod:`analora._fused_source` do each side in one pass, with counter
based noise (Philox4x32-10), so results do not depend on the number of
threads.

They are compiled with the system C++ compiler (``$CXX`` or ``c++``) into a
shared library the first time they are needed (a few seconds) and cached
under ``$ANALORA_CACHE_DIR`` (default ``~/.cache/analora``), keyed by the
source, the flags, the compiler and the CPU. Without a compiler, on another
device or with ``ANALORA_FUSED=0`` the engine takes the unfused torch path
(logged once).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from analora._fused_source import SOURCE

log = logging.getLogger(__name__)

# -O3 and -ffast-math let the Box-Muller loop vectorise through glibc's
# vector math library (libmvec); fast-math is not passed to the link step,
# so the process's floating-point mode is left alone.
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC", "-std=c++17")
LINK = ("-shared",)
# With OpenMP the kernels split their rows on the OpenMP runtime torch has
# already loaded (libgomp.so.1: the loader reuses the loaded soname), i.e. on
# torch's own worker threads, which are still awake right after a GEMM; a
# Python thread pool has to be woken for every call and lost most of the
# second core to that on this 2-core machine (a 4 ms epilogue took as long on
# two threads as on one). Without OpenMP the build falls back to the pool.
OPENMP = ("-fopenmp",)
LIBS = ("-lmvec", "-lm")
# Compile and link are two steps: GCC before 13 links crtfastmath.o into a
# shared library built with -ffast-math in one command, and loading it would
# switch the whole process to flush-to-zero (denormals read as 0 in every
# torch operation afterwards). tests/analog/test_fused.py checks it does not.

KERNELS = (
    "analora_dac",
    "analora_epilogue",
    "analora_pcm_program",
    "analora_pcm_read",
    "analora_identity_readout",
)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (-1, 0)


_switch = threading.local()


def enabled() -> bool:
    """Whether the fused kernels may be used (``ANALORA_FUSED`` not 0/off)."""
    return os.environ.get("ANALORA_FUSED", "1").lower() not in ("0", "off", "false", "no")


@contextmanager
def kernels(use: bool) -> Iterator[None]:
    """Use (or not) the fused kernels in this thread; they are used by
    default wherever they apply."""
    before = getattr(_switch, "on", True)
    _switch.on = use
    try:
        yield
    finally:
        _switch.on = before


def for_tensor(t: Tensor) -> ctypes.CDLL | None:
    """The kernel library if it may run on ``t`` (a float32 CPU tensor, the
    switch on in this thread), else None."""
    if not getattr(_switch, "on", True) or t.device.type != "cpu" or t.dtype != torch.float32:
        return None
    return load()


def cache_dir() -> Path:
    root = os.environ.get("ANALORA_CACHE_DIR") or Path.home() / ".cache" / "analora"
    return Path(root) / "kernels"


def _cpu_id() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> str | None:
    cxx = os.environ.get("CXX") or "c++"
    return shutil.which(cxx)


def library_path(cxx: str) -> Path:
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    parts = [SOURCE, *FLAGS, *OPENMP, *LINK, *LIBS, version, _cpu_id()]
    key = hashlib.sha256("\0".join(parts).encode())
    return cache_dir() / f"analora_fused_{key.hexdigest()[:16]}.so"


def _build(cxx: str, target: Path) -> None:
    """Compile into a temporary file beside ``target``, then rename (atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "fused.cpp"
        src.write_text(SOURCE)
        obj, out = Path(tmp) / "fused.o", Path(tmp) / target.name
        detail = "failed"
        for extra in (OPENMP, ()):  # OpenMP if the compiler has it
            commands = (
                [cxx, *FLAGS, *extra, "-c", str(src), "-o", str(obj)],
                [cxx, *LINK, *extra, str(obj), "-o", str(out), *LIBS],  # no -ffast-math here
            )
            for command in commands:
                proc = subprocess.run(command, capture_output=True, text=True)
                if proc.returncode != 0:
                    detail = proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"
                    break
            else:
                os.replace(out, target)
                return
        raise RuntimeError(detail)


def load() -> ctypes.CDLL | None:
    """The compiled kernels (building them on first use), or None with one
    logged warning if they cannot be built or are disabled."""
    global _lib, _tried
    if _tried:
        return _lib
    with _lock:
        if _tried:
            return _lib
        try:
            if not enabled():
                raise RuntimeError("ANALORA_FUSED=0")
            cxx = _compiler()
            if cxx is None:
                raise RuntimeError("no C++ compiler (set CXX)")
            path = library_path(cxx)
            if not path.exists():
                log.info("compiling the fused analog kernels into %s", path)
                _build(cxx, path)
            before = _openmp_runtimes()
            _lib = _bind(ctypes.CDLL(str(path)))
            _check_openmp(_lib, before)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning("fused analog kernels unavailable (%s): using the torch path", exc)
            _lib = None
        _tried = True
    return _lib


_openmp = False


def _openmp_runtimes() -> set[str]:
    """The OpenMP runtime libraries mapped into this process."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    names = ("libgomp", "libiomp", "libomp")
    return {
        line.split()[-1]
        for line in maps.splitlines()
        if any(n in line.rsplit("/", 1)[-1] for n in names)
    }


def _check_openmp(lib: ctypes.CDLL, before: set[str]) -> None:
    """Split rows on OpenMP only if loading the library mapped no OpenMP
    runtime of its own, i.e. it shares the one torch loaded (``before``: the
    runtimes mapped before it). A torch that bundles its OpenMP under another
    soname would leave the kernels a second runtime with threads of its own;
    then the Python thread pool splits the rows instead (logged once). Other
    packages' runtimes (aihwkit bundles its own libgomp) do not matter."""
    global _openmp
    _openmp = bool(lib.analora_openmp())
    added = _openmp_runtimes() - before
    if _openmp and added:
        log.info(
            "the fused kernels loaded an OpenMP runtime of their own (%s), not torch's: "
            "they split rows on a thread pool",
            ", ".join(sorted(added)),
        )
        _openmp = False


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, f32, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    lib.analora_dac.argtypes = [p, i64, f32, i32, i32, f32, p, p, i64, i64]
    lib.analora_dac.restype = None
    lib.analora_epilogue.argtypes = [
        *(p, i64, i64, i64, f32, p, p, p, f32, i32, f32, ctypes.c_uint64, p, p, i64, i64)
    ]
    lib.analora_epilogue.restype = i64
    lib.analora_pcm_program.argtypes = [
        *(p, p, i64, i64, p, i32, f32, f32, f32, f32, ctypes.c_uint64, p, p, i64, i64)
    ]
    lib.analora_pcm_program.restype = None
    lib.analora_pcm_read.argtypes = [p, p, p, i64, i64, f32, f32, f32, ctypes.c_uint64, p, i64, i64]
    lib.analora_pcm_read.restype = None
    lib.analora_identity_readout.argtypes = [
        *(p, i64, i64, i64, p, f32, f32, f32, i32, f32, ctypes.c_uint64, p, i64, i64)
    ]
    lib.analora_identity_readout.restype = i64
    lib.analora_openmp.argtypes = []
    lib.analora_openmp.restype = ctypes.c_int
    for name in KERNELS:  # the same arguments, the row range replaced by (rows, threads)
        whole = getattr(lib, f"{name}_rows")
        whole.argtypes = [*getattr(lib, name).argtypes[:-2], i64, i32]
        whole.restype = i64
    return lib


def reset() -> None:
    """Forget the loaded library (tests: rebuild, or retry after a change)."""
    global _lib, _tried, _openmp
    with _lock:
        _lib, _tried, _openmp = None, False, False


def _split(n: int) -> list[tuple[int, int]]:
    parts = max(1, min(torch.get_num_threads(), n // 64 or 1))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _run(lib: ctypes.CDLL, name: str, args: tuple[object, ...], n: int) -> int:
    """Run kernel ``name`` over ``n`` rows on the threads torch may use:
    inside the kernel on OpenMP threads if the library has them, else as
    row ranges on a Python thread pool (ctypes releases the GIL during the
    call). Returns the sum of the kernel's return values."""
    global _pool, _pool_key
    ranges = _split(n)
    if len(ranges) == 1:
        return int(getattr(lib, name)(*args, 0, n) or 0)
    if _openmp:
        return int(getattr(lib, f"{name}_rows")(*args, n, len(ranges)))
    fn = getattr(lib, name)
    key = (os.getpid(), len(ranges))
    pool = _pool
    if pool is None or _pool_key != key:
        if pool is not None and _pool_key[0] == os.getpid():
            pool.shutdown(wait=False)
        pool = _pool = ThreadPoolExecutor(len(ranges) - 1, thread_name_prefix="analora-k")
        _pool_key = key
    futures = [pool.submit(partial(fn, *args, r0, r1)) for r0, r1 in ranges[1:]]
    first = fn(*args, *ranges[0])
    return int(sum(f.result() or 0 for f in futures) + (first or 0))


def _check(*tensors: Tensor | None) -> None:
    """The kernels read raw pointers: refuse anything but contiguous float32
    CPU tensors (rather than reading the wrong memory)."""
    for t in tensors:
        if t is not None and not (
            t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous()
        ):
            raise ValueError(
                f"fused kernels take contiguous float32 CPU tensors, not {t.dtype} on "
                f"{t.device} (contiguous={t.is_contiguous()})"
            )


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def dac(
    lib: ctypes.CDLL,
    x: Tensor,
    step: float,
    scaling: bool,
    quantise: bool,
    limit: float | None,
    codes: Tensor,
) -> Tensor:
    """Fill ``codes`` (shape of the contiguous ``x``, last dim ``c``) with DAC
    codes; return the per-row abs-max ``a`` (shape ``x.shape[:-1] + (1,)``)."""
    c = x.shape[-1]
    rows = x.numel() // c
    a = torch.empty(*x.shape[:-1], 1, device=x.device)
    _check(x, codes, a)
    lim = -1.0 if limit is None else limit
    args = (x.data_ptr(), c, step, int(scaling), int(quantise), lim, codes.data_ptr(), a.data_ptr())
    _run(lib, "analora_dac", args, rows)
    return a


def epilogue(
    lib: ctypes.CDLL,
    acc: Tensor,
    gain: float,
    row_factor: Tensor,
    scale: Tensor | None,
    bias: Tensor | None,
    noise: float,
    round_adc: bool,
    bound: float | None,
    seed: int,
    y: Tensor,
    flags: Tensor,
) -> int:
    """``y = sum_i clamp(round(gain acc_i + noise z)) row_factor_i scale_i + bias``
    for contiguous ``acc`` ``[n_in, N, out]``; flags ``[n_in, N]`` the tiles
    of rows whose ADC saturated (their codes written back into ``acc``).
    Returns the number of rows with a flag."""
    n_in, n, out = acc.shape
    _check(acc, row_factor, scale, bias, y)
    if flags.dtype != torch.uint8 or not flags.is_contiguous() or flags.device.type != "cpu":
        raise ValueError("flags must be a contiguous uint8 CPU tensor")
    args = (
        acc.data_ptr(),
        n_in,
        n,
        out,
        gain,
        row_factor.data_ptr(),
        _ptr(scale),
        _ptr(bias),
        noise,
        int(round_adc),
        -1.0 if bound is None else bound,
        seed,
        y.data_ptr(),
        flags.data_ptr(),
    )
    return _run(lib, "analora_epilogue", args, n)


def pcm_program(
    lib: ctypes.CDLL,
    w: Tensor,
    w_max: Tensor,
    coeffs: tuple[float, ...],
    g_max_uS: float,
    coeffs_g_max_uS: float,
    prog_scale: float,
    drift_scale: float,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """Programmed conductances and drift exponents ``[2, *w.shape]`` (G+, G-)
    of packed weights ``w`` (last dim: one tile row) with per-row tile max
    ``w_max`` (``w.shape[:-1] + (1,)``)."""
    if not 1 <= len(coeffs) <= 8:
        raise ValueError("the programming-noise polynomial needs 1 to 8 coefficients")
    w, w_max = w.contiguous(), w_max.contiguous()
    c = w.shape[-1]
    rows = w.numel() // c
    gp = torch.empty(2, *w.shape, device=w.device)
    nu = torch.empty(2, *w.shape, device=w.device)
    cf = torch.tensor(coeffs, dtype=torch.float32, device=w.device)
    _check(w, w_max, gp, nu, cf)
    args = (
        w.data_ptr(),
        w_max.data_ptr(),
        rows,
        c,
        cf.data_ptr(),
        len(coeffs),
        g_max_uS,
        coeffs_g_max_uS,
        prog_scale,
        drift_scale,
        seed,
        gp.data_ptr(),
        nu.data_ptr(),
    )
    _run(lib, "analora_pcm_program", args, rows)
    return gp, nu


def pcm_read(
    lib: ctypes.CDLL,
    g_prog_uS: Tensor,
    nu: Tensor,
    w_max: Tensor,
    g_max_uS: float,
    log_drift: float,
    read_scale: float,
    seed: int,
) -> Tensor:
    """Weights ``g_prog_uS.shape[1:]`` read from programmed pairs ``g_prog_uS``
    and drift exponents ``nu`` (``[2, *w.shape]``, G+ and G-) with per-row
    tile max ``w_max``: drift by ``exp(nu log_drift)``, read noise of relative
    size ``Q_s(G_prog) read_scale``, then ``(G+ - G-) w_max / g_max``."""
    g_prog_uS, nu, w_max = g_prog_uS.contiguous(), nu.contiguous(), w_max.contiguous()
    c = g_prog_uS.shape[-1]
    rows = g_prog_uS[0].numel() // c
    w = torch.empty(g_prog_uS.shape[1:], device=g_prog_uS.device)
    _check(g_prog_uS, nu, w_max, w)
    if nu.shape != g_prog_uS.shape or w_max.numel() != rows:
        raise ValueError(
            f"pcm_read: nu {tuple(nu.shape)} and w_max {tuple(w_max.shape)} do not match "
            f"the conductances {tuple(g_prog_uS.shape)}"
        )
    args = (
        g_prog_uS.data_ptr(),
        nu.data_ptr(),
        w_max.data_ptr(),
        rows,
        c,
        g_max_uS,
        log_drift,
        read_scale,
        seed,
        w.data_ptr(),
    )
    _run(lib, "analora_pcm_read", args, rows)
    return w


def identity_readout(
    lib: ctypes.CDLL,
    w: Tensor,
    in_sizes: tuple[int, ...],
    code: float,
    gain: float,
    noise: float,
    round_adc: bool,
    bound: float | None,
    seed: int,
) -> tuple[Tensor, int]:
    """``[n_in, out]`` sums over each tile input k of ``|clamp(round(gain code
    w[i, o, k] + noise z))|``: each tile's response to the identity, in ADC
    codes, reduced per column; and the number of columns whose codes passed
    ``bound`` (then the sums are not what bound management would give)."""
    w = w.contiguous()
    n_in, out, c = w.shape
    if len(in_sizes) != n_in or not all(0 < k <= c for k in in_sizes):
        raise ValueError(f"identity_readout: input sizes {in_sizes} do not fit weights {w.shape}")
    sizes = torch.tensor(in_sizes, dtype=torch.int64, device=w.device)
    sums = torch.empty(n_in, out, device=w.device)
    _check(w, sums)
    args = (
        w.data_ptr(),
        n_in,
        out,
        c,
        sizes.data_ptr(),
        code,
        gain,
        noise,
        int(round_adc),
        -1.0 if bound is None else bound,
        seed,
        sums.data_ptr(),
    )
    return sums, _run(lib, "analora_identity_readout", args, n_in * out)
