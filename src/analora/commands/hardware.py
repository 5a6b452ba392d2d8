"""``analora hardware``: list the presets, show a config."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_hardware_list(args: argparse.Namespace) -> int:
    """List the hardware presets."""
    from analora.hardware import load_hardware, preset_names

    for name in preset_names():
        hw = load_hardware(name)
        c = hw.converters
        print(
            f"{name:<16} DAC {c.dac_bits or '-'} / ADC {c.adc_bits or '-'} bits, "
            f"out noise {hw.periphery.output_noise_std}, device {hw.device.model}, "
            f"drift comp. {hw.drift_compensation.method}"
        )
    return 0


def cmd_hardware_show(args: argparse.Namespace) -> int:
    """Print a hardware config (after --set overrides) as YAML."""
    import yaml

    print(yaml.safe_dump(_hardware(args).to_dict(), sort_keys=False), end="")
    return 0


def _hardware(args: argparse.Namespace) -> Any:
    from analora.hardware import load_hardware

    return load_hardware(args.hardware, args.set or None)


def register(sub: Any) -> None:
    hw = sub.add_parser("hardware", help="hardware presets").add_subparsers(
        dest="hardware_command", required=True
    )
    p = hw.add_parser("list", help=cmd_hardware_list.__doc__)
    p.set_defaults(func=cmd_hardware_list)
    p = hw.add_parser("show", help=cmd_hardware_show.__doc__)
    p.add_argument("hardware")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_hardware_show)
