"""Named hardware presets (YAML files beside this module) and config files.

A preset file may name a ``base`` preset; its sections then override the
base's fields one by one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from analora.errors import ConfigError, did_you_mean
from analora.hardware.config import HardwareConfig, load_yaml, parse_assignments

_PRESET_DIR = resources.files("analora.hardware") / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(
        p.name[: -len(".yaml")] for p in _PRESET_DIR.iterdir() if p.name.endswith(".yaml")
    )


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(source, f"YAML syntax error{where}", "a valid YAML mapping") from None
    if not isinstance(data, dict):
        raise ConfigError(source, type(data).__name__, "a YAML mapping of sections to fields")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in over.items():
        if key == "base":
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def _resolve(data: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    base = data.get("base")
    if base is None:
        return data
    if base in seen:
        raise ConfigError("base", base, "a preset that does not refer back to itself")
    return _merge(_resolve(_preset_dict(base), (*seen, base)), data)


def _preset_dict(name: str) -> dict[str, Any]:
    names = preset_names()
    if name not in names:
        raise ConfigError(
            "hardware",
            name,
            f"a preset ({', '.join(names)}) or a .yaml/.json file{did_you_mean(name, names)}",
            "--hardware",
        )
    text = (_PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    return _read_yaml(text, f"preset {name}")


def load_hardware(
    spec: str | Path | HardwareConfig | Any,
    overrides: dict[str, Any] | list[str] | None = None,
) -> HardwareConfig:
    """A hardware config from a preset name, a YAML/JSON file, a config, or an
    aihwkit RPU config (``InferenceRPUConfig``; see
    :func:`analora.hardware.aihwkit_bridge.hardware_from_rpu_config`).

    ``overrides`` is a dict of dotted fields or a list of ``key=value`` strings
    (as the CLI's ``--set``).
    """
    if isinstance(spec, HardwareConfig):
        config = spec
    elif type(spec).__module__.startswith("aihwkit."):
        from analora.hardware.aihwkit_config import hardware_from_rpu_config

        config = hardware_from_rpu_config(spec)
    elif not isinstance(spec, str | Path):
        raise ConfigError(
            "hardware",
            type(spec).__name__,
            "a preset name, a file, a HardwareConfig or an aihwkit RPU config",
            "--hardware",
        )
    else:
        text_spec = str(spec)
        path = Path(text_spec)
        if text_spec.endswith((".yaml", ".yml", ".json")) or path.is_file():
            if not path.is_file():
                raise ConfigError("hardware", text_spec, "an existing config file", "--hardware")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError("hardware", text_spec, f"a readable UTF-8 file ({exc})") from None
            data = _read_yaml(text, text_spec)
            data.setdefault("name", path.stem)
            config = HardwareConfig.from_dict(_resolve(data, ()))
        else:
            config = HardwareConfig.from_dict(_resolve(_preset_dict(text_spec), (text_spec,)))
    if overrides:
        if isinstance(overrides, list):
            overrides = parse_assignments(overrides)
        config = config.with_overrides(overrides)
    return config
