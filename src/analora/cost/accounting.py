"""Parameter and memory accounting: what is analog, what is digital, what one
adapter costs, and one chip serving N tasks against N programmed models.

The pure functions take layer shapes (``in_features`` x ``out_features``) and
the tile size, so each can be checked by hand; :func:`shapes_from_model`
gets the shapes of a real model through :func:`analora.analog.convert.convert`.

Sources: tiling as in :class:`analora.analog.tiles.TileGeometry` (aihwkit's
``TileModuleArray``: ``ceil(size / max)`` chunks per dimension); LoRA branch
``B A x`` with ``A`` r x in and ``B`` out x r (Hu et al., "LoRA", ICLR 2022);
rank 8 on every analog layer and the bank of 8 GLUE task adapters on one chip
(Li et al., arXiv 2411.17367); FP16 storage, 2 bytes per parameter (IEEE 754
binary16).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from analora.cost.checks import CostError, check_int
from analora.hardware.tiling import TILE_SIZE, tile_count

if TYPE_CHECKING:
    from torch import nn

    from analora.hardware.config import HardwareConfig

FP16_BYTES = 2
"""Bytes per parameter stored in FP16 (IEEE 754 binary16)."""


@dataclass(frozen=True)
class LayerShape:
    """One analog layer: ``out_features x in_features`` weights."""

    in_features: int
    out_features: int
    name: str = ""

    def __post_init__(self) -> None:
        what = f"layer {self.name!r} " if self.name else ""
        for field_name in ("in_features", "out_features"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CostError(
                    f"{what}{field_name}={value!r} is invalid: give an integer >= 1 "
                    "(--shapes INxOUT or --layer IN OUT)"
                )

    @property
    def label(self) -> str:
        return f"{self.in_features}x{self.out_features}"


def tiles_for_layer(
    in_features: int,
    out_features: int,
    *,
    max_inputs: int = TILE_SIZE,
    max_outputs: int = TILE_SIZE,
) -> int:
    """Tiles one layer occupies: ``ceil(in / max_inputs) * ceil(out / max_outputs)``.

    Source: the split of :class:`analora.analog.tiles.TileGeometry` (after
    aihwkit's ``TileModuleArray``); 512 x 512 tiles in Li et al. (arXiv
    2411.17367). Example: 384 x 1536 on 512 x 512 tiles is 1 * 3 = 3 tiles.
    """
    check_int("in_features", in_features, 1)
    check_int("out_features", out_features, 1)
    check_int("max_inputs", max_inputs, 1, "--set tile.max_inputs=...")
    check_int("max_outputs", max_outputs, 1, "--set tile.max_outputs=...")
    return tile_count(in_features, out_features, max_inputs, max_outputs)


def lora_params(in_features: int, out_features: int, rank: int) -> int:
    """LoRA parameters on one layer: ``r * (in + out)`` (A is r x in, B is out x r).

    Source: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
    ICLR 2022. Example: 384 x 384 at r = 8 is 8 * 768 = 6,144.
    """
    check_int("in_features", in_features, 1)
    check_int("out_features", out_features, 1)
    check_int("rank", rank, 1, "--rank")
    return rank * (in_features + out_features)


def classifier_head_params(hidden: int, num_labels: int) -> int:
    """A linear task head on the pooled output: ``(hidden + 1) * num_labels``
    (weight and bias), as the ``classifier`` of transformers'
    ``BertForSequenceClassification``. Example: hidden 384, 2 labels: 770."""
    check_int("hidden", hidden, 1, "--hidden")
    check_int("num_labels", num_labels, 1, "--num-labels")
    return (hidden + 1) * num_labels


def params_bytes(params: int, *, bytes_per_param: int = FP16_BYTES) -> int:
    """Bytes to store ``params`` parameters: ``params * bytes_per_param``
    (FP16: 2 bytes, IEEE 754 binary16)."""
    check_int("params", params, 0)
    check_int("bytes_per_param", bytes_per_param, 1, "--bytes-per-param")
    return params * bytes_per_param


@dataclass(frozen=True)
class ModelAccount:
    """Parameters of one model on one hardware config, and of one task adapter."""

    layers: tuple[LayerShape, ...]
    analog_params: int
    """Weights on tiles: sum of ``in * out`` over the analog layers."""
    digital_params: int
    """Everything else of the base model (embeddings, norms, biases, out-scales)."""
    tiles: int
    rank: int
    lora_params: int
    """LoRA parameters of one task adapter (rank ``rank`` on every analog layer)."""
    head_params: int
    """Task-head parameters of one task."""
    bytes_per_param: int = FP16_BYTES

    @property
    def adapter_params(self) -> int:
        """One task's digital trainable part: LoRA plus head."""
        return self.lora_params + self.head_params

    @property
    def adapter_bytes(self) -> int:
        return params_bytes(self.adapter_params, bytes_per_param=self.bytes_per_param)

    @property
    def analog_fraction(self) -> float:
        total = self.analog_params + self.digital_params
        return self.analog_params / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [asdict(layer) for layer in self.layers],
            "analog_params": self.analog_params,
            "digital_params": self.digital_params,
            "analog_fraction": self.analog_fraction,
            "tiles": self.tiles,
            "rank": self.rank,
            "lora_params": self.lora_params,
            "head_params": self.head_params,
            "adapter_params": self.adapter_params,
            "bytes_per_param": self.bytes_per_param,
            "adapter_bytes": self.adapter_bytes,
        }


def account_model(
    layers: Iterable[LayerShape],
    *,
    digital_params: int,
    rank: int = 8,
    head_params: int = 0,
    max_inputs: int = TILE_SIZE,
    max_outputs: int = TILE_SIZE,
    bytes_per_param: int = FP16_BYTES,
) -> ModelAccount:
    """Analog and digital parameters, tiles, and one task adapter's size.

    analog = sum(in * out); tiles = sum(:func:`tiles_for_layer`);
    LoRA = sum(:func:`lora_params`) (Li et al., arXiv 2411.17367: rank 8 on
    all analog layers); adapter bytes = (LoRA + head) * bytes_per_param.
    """
    shapes = tuple(layers)
    if not shapes:
        raise CostError("the model has no analog layers: give --model, --shapes or --layer")
    check_int("digital_params", digital_params, 0, "--digital-params")
    check_int("head_params", head_params, 0, "--head-params")
    check_int("bytes_per_param", bytes_per_param, 1, "--bytes-per-param")
    return ModelAccount(
        layers=shapes,
        analog_params=sum(s.in_features * s.out_features for s in shapes),
        digital_params=digital_params,
        tiles=sum(
            tiles_for_layer(
                s.in_features, s.out_features, max_inputs=max_inputs, max_outputs=max_outputs
            )
            for s in shapes
        ),
        rank=rank,
        lora_params=sum(lora_params(s.in_features, s.out_features, rank) for s in shapes),
        head_params=head_params,
        bytes_per_param=bytes_per_param,
    )


@dataclass(frozen=True)
class BankComparison:
    """One chip with ``tasks`` adapters against ``tasks`` separately programmed
    (fully fine-tuned) models. Each pair is (one chip, N models)."""

    tasks: int
    devices_per_weight: int
    analog_params: tuple[int, int]
    devices: tuple[int, int]
    tiles: tuple[int, int]
    programming_events: tuple[int, int]
    digital_params: tuple[int, int]
    stored_params: tuple[int, int]
    stored_bytes: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tasks": self.tasks, "devices_per_weight": self.devices_per_weight}
        for name in (
            "analog_params",
            "devices",
            "tiles",
            "programming_events",
            "digital_params",
            "stored_params",
            "stored_bytes",
        ):
            chip, models = getattr(self, name)
            out[name] = {"one_chip": chip, "n_models": models}
        return out


def compare_bank(
    account: ModelAccount, tasks: int, *, devices_per_weight: int = 2
) -> BankComparison:
    """One programmed chip serving ``tasks`` tasks by swapping adapters, against
    ``tasks`` fully fine-tuned models each programmed on its own (or the same
    chip reprogrammed ``tasks`` times).

    With A analog, D digital, L LoRA and H head parameters per task, N tasks,
    d devices per weight and b bytes per parameter:

    - analog parameters programmed: A against N A; devices: d A against N d A;
      tiles: T against N T; programming events: 1 against N;
    - digital parameters: D + N (L + H) (shared base, one adapter per task)
      against N (D + H) (every model has its own fine-tuned digital part);
    - stored (off-chip, to program from and to swap in): b (A + D + N (L + H))
      against b N (A + D + H).

    Sources: the deployment of Li et al. (arXiv 2411.17367: one chip, 8 GLUE
    task adapters); 2 devices per weight as in Joshi et al., Nat. Commun. 11,
    2473 (2020).
    """
    check_int("tasks", tasks, 1, "--tasks")
    check_int("devices_per_weight", devices_per_weight, 1, "--devices-per-weight")
    a, d, per_task = account.analog_params, account.digital_params, account.adapter_params
    chip_stored = a + d + tasks * per_task
    models_stored = tasks * (a + d + account.head_params)
    b = account.bytes_per_param
    return BankComparison(
        tasks=tasks,
        devices_per_weight=devices_per_weight,
        analog_params=(a, tasks * a),
        devices=(devices_per_weight * a, tasks * devices_per_weight * a),
        tiles=(account.tiles, tasks * account.tiles),
        programming_events=(1, tasks),
        digital_params=(d + tasks * per_task, tasks * (d + account.head_params)),
        stored_params=(chip_stored, models_stored),
        stored_bytes=(b * chip_stored, b * models_stored),
    )


def parse_shapes(text: str) -> list[LayerShape]:
    """``"384x384,384x1536"`` -> layer shapes (``IN x OUT`` each, comma-separated)."""
    shapes = []
    for i, part in enumerate(p.strip() for p in text.split(",")):
        pieces = part.lower().split("x")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            raise CostError(
                f"--shapes entry {part!r} is not IN x OUT: give e.g. --shapes 384x384,384x1536"
            )
        shapes.append(LayerShape(int(pieces[0]), int(pieces[1]), name=f"layer{i}"))
    return shapes


def unique_shapes(layers: Sequence[LayerShape]) -> list[tuple[LayerShape, int]]:
    """Distinct (in, out) shapes in first-seen order, with how many layers have each."""
    counts: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], LayerShape] = {}
    for s in layers:
        key = (s.in_features, s.out_features)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, s)
    return [(first[k], n) for k, n in counts.items()]


def shapes_from_model(
    model: nn.Module, hardware: HardwareConfig, exclude: Sequence[str] = ()
) -> tuple[list[LayerShape], int]:
    """The analog layer shapes and the digital parameter count of ``model``
    mapped under ``hardware``, from :func:`analora.analog.convert.convert`
    (the model is converted in place, ``exclude`` kept digital; a converted
    model is read as it is)."""
    from analora.analog.convert import conversion_report, convert

    report = conversion_report(model)
    if report is None:
        report = convert(model, hardware, exclude=list(exclude) or None)
    shapes = [
        LayerShape(layer.in_features, layer.out_features, name=layer.name)
        for layer in report.layers
    ]
    return shapes, report.digital_params
