"""Fidelity report: analora against aihwkit 1.1.0 on one analog layer.

The same 384-input x 1536-output layer (heavy-tailed weights, bias), the same
``paper-pcm`` settings, the same inputs; the RMS of the relative output error
against the ideal digital output, mean over chips, for inference at several
ages and for training mode (weight-noise modifier). Also the mean global
drift-compensation factor. ``tests/test_aihwkit_crosscheck.py`` asserts the
tolerances; this script writes the numbers the docs quote.

Run: ``.venv/bin/python benchmarks/fidelity.py`` (writes
benchmarks/results/fidelity.json).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

RESULTS = Path(__file__).parent / "results" / "fidelity.json"
AGES_S = {"0 s": 0.0, "1 h": 3600.0, "1 d": 86400.0, "1 y": 365 * 86400.0, "10 y": 3650 * 86400.0}
CHIPS = 5


def main() -> int:
    import aihwkit
    from aihwkit.nn.conversion import convert_to_analog

    from analora.analog import AnalogLinear, program
    from analora.hardware import load_hardware
    from analora.hardware.aihwkit_bridge import rpu_config_for
    from analora.seeds import derive_seed, generator

    torch.set_num_threads(2)
    hw = load_hardware("paper-pcm")
    gen = generator("fidelity", "weights")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("fidelity", "weights"))
        w = torch.distributions.StudentT(4.0).sample((1536, 384)) * 0.03
    b = torch.randn(1536, generator=gen) * 0.01
    x = torch.randn(512, 384, generator=generator("fidelity", "x"))
    y_ideal = x @ w.T + b

    def rms(y: torch.Tensor) -> float:
        return ((y - y_ideal).norm() / y_ideal.norm()).item()

    def reference() -> nn.Module:
        lin = nn.Linear(384, 1536)
        lin.weight.data.copy_(w)
        lin.bias.data.copy_(b)
        model = convert_to_analog(nn.Sequential(lin), rpu_config_for(hw))
        for tile in model.analog_tiles():
            tile.post_update_step()
        return model

    rows = {}
    for label, t_s in AGES_S.items():
        ours, theirs, gdc_ours, gdc_theirs = [], [], [], []
        for seed in range(CHIPS):
            torch.manual_seed(1000 + seed)
            ref = reference().eval()
            ref.program_analog_weights()
            ref.drift_analog_weights(t_s)
            with torch.no_grad():
                theirs.append(rms(ref(x)))
            gdc_theirs.append(statistics.mean(t.alpha.item() for t in ref.analog_tiles()))
            chip = program(nn.Sequential(AnalogLinear.from_digital(w, b, hw)).eval(), seed=seed)
            chip.read(t_s)
            with torch.no_grad():
                ours.append(rms(chip.model(x)))
            gdc_ours.append(chip.model[0].drift_scale.mean().item())
        rows[label] = {
            "analora_rms_rel_error": statistics.mean(ours),
            "aihwkit_rms_rel_error": statistics.mean(theirs),
            "analora_gdc_factor": statistics.mean(gdc_ours),
            "aihwkit_gdc_factor": statistics.mean(gdc_theirs),
        }
    torch.manual_seed(7)
    ref = reference().train()
    ours_layer = nn.Sequential(AnalogLinear.from_digital(w, b, hw)).train()
    with torch.no_grad():
        rows["training"] = {
            "analora_rms_rel_error": statistics.mean(rms(ours_layer(x)) for _ in range(CHIPS)),
            "aihwkit_rms_rel_error": statistics.mean(rms(ref(x)) for _ in range(CHIPS)),
        }
    record = {
        "layer": "384 -> 1536, Student-t(4) weights x 0.03, 512 Gaussian inputs",
        "hardware": hw.name,
        "chips_per_age": CHIPS,
        "aihwkit": aihwkit.__version__,
        "torch": torch.__version__,
        "rows": rows,
        "command": ".venv/bin/python benchmarks/fidelity.py",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(RESULTS)
    for label, row in rows.items():
        print(label, {k: round(v, 4) for k, v in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
