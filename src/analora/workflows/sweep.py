"""``sweep_run``: a deployment over chips x ages (:mod:`analora.sweep`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analora.sweep.results import DEFAULT_TIMES_S
from analora.sweep.runner import Progress, SweepConfig, run_sweep


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a run directory of ``analora train`` and the grid."""

    deployment: str | Path
    chips: int = 10
    times_s: tuple[float, ...] = DEFAULT_TIMES_S
    first_chip_seed: int = 1000
    read_index: int | None = None
    """None: 0, or 1 for an adapter bound to its chip (``chip-lora``), which
    trained on read 0 (:data:`analora.sweep.runner.BOUND_READ_INDEX`)."""
    max_eval_examples: int | None = None

    @property
    def config(self) -> SweepConfig:
        return SweepConfig(
            chips=self.chips,
            times_s=self.times_s,
            first_chip_seed=self.first_chip_seed,
            read_index=self.read_index,
        )


def sweep_run(
    spec: SweepSpec,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Sweep ``spec`` into ``out`` on ``device`` (resuming a cut sweep of the
    same settings) and return its ``analora-results/1`` record. Under
    ``accelerate launch`` each process reads its share of the chips (on its
    own GPU with ``cuda``) and the main process writes the results."""
    from analora.workflows.runtime import pick_device, process_shard

    shard, here = process_shard(pick_device(device))
    return run_sweep(
        spec.deployment,
        out,
        spec.config,
        data_dir=data_dir,
        max_eval_examples=spec.max_eval_examples,
        progress=progress if shard is None or shard.is_main else None,
        device=here,
        shard=shard,
    )
