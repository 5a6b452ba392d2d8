"""The cost model: what a deployment costs in parameters, memory,
reprogramming time and energy, and latency.

- :mod:`analora.cost.accounting`: analog and digital parameters, tiles,
  adapter size, one chip with N adapters against N programmed models;
- :mod:`analora.cost.reprogram`: reprogramming the analog weights against
  swapping a digital adapter (time and energy);
- :mod:`analora.cost.latency`: the LoRA branch on the RISC-V cluster beside
  each tile, pipelined with the analog MVM;
- :mod:`analora.cost.report` and :mod:`analora.cost.cli`: the tables and
  ``analora cost``.

Every function is pure and cites its source; every constant is a keyword
argument or a config field with its default's source (docs/cost.md). No
torch is imported unless a model is read (:func:`shapes_from_model`).
"""

from analora.cost.accounting import (
    BankComparison,
    LayerShape,
    ModelAccount,
    account_model,
    classifier_head_params,
    compare_bank,
    lora_params,
    params_bytes,
    shapes_from_model,
    tiles_for_layer,
)
from analora.cost.checks import CostError
from analora.cost.latency import (
    ClusterConfig,
    LatencyPoint,
    analog_block_ns,
    best_point,
    digital_block_ns,
    latency_sweep,
    layer_latency,
    local_memory_bytes,
    lora_macs,
    pipelined_total_ns,
)
from analora.cost.reprogram import (
    ProgrammingConfig,
    SwapConfig,
    SwitchCost,
    reprogram_energy_j,
    reprogram_time_s,
    rows_to_program,
    swap_energy_j,
    swap_time_s,
    switch_cost,
)

__all__ = [
    "BankComparison",
    "ClusterConfig",
    "CostError",
    "LatencyPoint",
    "LayerShape",
    "ModelAccount",
    "ProgrammingConfig",
    "SwapConfig",
    "SwitchCost",
    "account_model",
    "analog_block_ns",
    "best_point",
    "classifier_head_params",
    "compare_bank",
    "digital_block_ns",
    "latency_sweep",
    "layer_latency",
    "local_memory_bytes",
    "lora_macs",
    "lora_params",
    "params_bytes",
    "pipelined_total_ns",
    "reprogram_energy_j",
    "reprogram_time_s",
    "rows_to_program",
    "shapes_from_model",
    "swap_energy_j",
    "swap_time_s",
    "switch_cost",
    "tiles_for_layer",
]
