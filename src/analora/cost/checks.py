"""Input checks shared by the cost model: one error type, one-line messages.

Every parameter of the cost model is either a keyword argument of a pure
function or a field of a frozen config dataclass. Both are checked here so a
bad value fails at once with a message that names the parameter, the value,
what is allowed and the ``analora cost`` flag that sets it.

Config fields declare their checks in ``dataclasses.field(metadata=...)``:
``kind`` (``int``, ``float`` or ``bool``), ``min`` (and ``open`` for a strict
lower bound), ``max``, plus ``help`` and ``source`` (where the default comes
from), which the CLI and the JSON output reuse.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from analora.errors import AnaloraError


class CostError(AnaloraError, ValueError):
    """A cost-model parameter or input has an invalid value."""


def flag_of(name: str) -> str:
    """The ``analora cost`` flag of a parameter: ``rows_in_parallel`` -> ``--rows-in-parallel``."""
    return "--" + name.replace("_", "-")


def _fail(name: str, value: object, allowed: str, flag: str | None) -> CostError:
    hint = f" ({flag})" if flag else ""
    return CostError(f"{name}={value!r} is invalid: give {allowed}{hint}")


def check_int(name: str, value: object, lo: int = 0, flag: str | None = None) -> int:
    """``value`` as an int >= ``lo`` (bools refused), else :class:`CostError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _fail(name, value, f"an integer >= {lo}", flag)
    return value


def check_number(
    name: str,
    value: object,
    lo: float = 0.0,
    *,
    lo_open: bool = False,
    hi: float = math.inf,
    flag: str | None = None,
) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    ok = ok and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
        upper = "" if hi == math.inf else f" and <= {hi:g}"
        raise _fail(name, value, f"a number {bound}{upper}", flag)
    return v


def check_fields(config: Any) -> None:
    """Check every field of a config dataclass against its metadata."""
    for f in dataclasses.fields(config):
        meta = f.metadata
        kind = meta.get("kind")
        value = getattr(config, f.name)
        flag = flag_of(f.name)
        if kind == "int":
            check_int(f.name, value, int(meta.get("min", 0)), flag)
        elif kind == "float":
            check_number(
                f.name,
                value,
                float(meta.get("min", 0.0)),
                lo_open=bool(meta.get("open", False)),
                hi=float(meta.get("max", math.inf)),
                flag=flag,
            )
        elif kind == "bool" and not isinstance(value, bool):
            raise _fail(f.name, value, "true or false", flag)


def param(default: Any, kind: str, help: str, source: str, **checks: Any) -> Any:
    """A config field with its checks, help text and the source of its default."""
    meta = {"kind": kind, "help": help, "source": source, **checks}
    return dataclasses.field(default=default, metadata=meta)


def describe(config: Any) -> list[dict[str, Any]]:
    """Each field of a config as ``{name, value, default, help, source}``."""
    out = []
    for f in dataclasses.fields(config):
        out.append(
            {
                "name": f.name,
                "value": getattr(config, f.name),
                "default": f.default,
                "help": f.metadata.get("help", ""),
                "source": f.metadata.get("source", ""),
            }
        )
    return out
