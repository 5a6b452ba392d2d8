"""Errors analora raises on user input.

Every error carries a one-line message that names what was wrong and how to
fix it; the CLI prints that line and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AnaloraError(Exception):
    """Base class for errors caused by user input (exit status 2 in the CLI)."""


class ConfigError(AnaloraError, ValueError):
    """A hardware-config field has an invalid value, or a preset is unknown."""

    def __init__(self, field: str, value: object, allowed: str, flag: str | None = None):
        self.field = field
        self.value = value
        self.allowed = allowed
        hint = f" (CLI: {flag})" if flag else ""
        super().__init__(f"{field}={value!r} is invalid: allowed {allowed}{hint}")


class ModelLoadError(AnaloraError):
    """A model could not be found or loaded."""


class ChipError(AnaloraError):
    """A chip file is missing, corrupt, or belongs to another model or config."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class DataError(AnaloraError):
    """A dataset is missing, unreadable or malformed, or its source unreachable."""


class OutputLockedError(AnaloraError):
    """Another process is writing the output directory."""
