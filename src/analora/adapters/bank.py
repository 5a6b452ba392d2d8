"""An adapter bank: many task adapters, each with its own head, served by
one programmed chip.

The analog layers are programmed once and shared; every adapter's LoRA
matrices are loaded into the same peft model under the adapter's name, and
its task head (a small digital linear layer, whose output size differs from
task to task) is kept beside it. :meth:`AdapterBank.switch` makes one adapter
and its head the active ones; nothing analog is touched, so the chip's
fingerprint never changes, and the bytes a switch stands for are the
adapter's own (LoRA matrices and head at FP16, what the digital cores beside
the tiles load; see :mod:`analora.cost`).

:meth:`AdapterBank.forward_mixed` runs a batch whose examples belong to
different tasks: peft's mixed-adapter path runs each analog layer once for
the whole batch and adds to every example the LoRA branch of its own task;
each example then goes through its own head. Because bound management and
the noise draws act per input vector, an example's output equals the one it
gets when the whole batch runs under its task's adapter alone with the same
noise draws (same chip, age and read index); ``tests/adapters/test_bank.py``
checks this.

Bindings are checked as in :func:`analora.adapters.adapter_files.load_adapter`: an
adapter trained on another base model or hardware config is refused, and so
is a chip-calibrated adapter (``chip-lora``) on any chip but its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import set_peft_model_state_dict
from safetensors.torch import load_file
from torch import Tensor, nn

from analora.adapters.adapter_files import WEIGHTS, _base_binding, read_adapter_meta
from analora.adapters.lora import AdapterError, AnalogLoraLinear, known_to_peft
from analora.analog.chip import Chip
from analora.analog.layer import AnalogLinear

PREFIX = "base_model.model."
FP16_BYTES = 2


@dataclass(frozen=True)
class BankEntry:
    """One adapter held by a bank."""

    name: str
    path: Path
    task: str | None
    method: str | None
    lora_params: int
    head_params: int
    rank: int
    chip_fingerprint: str | None

    @property
    def params(self) -> int:
        return self.lora_params + self.head_params

    @property
    def fp16_bytes(self) -> int:
        """What a switch to this adapter moves: its parameters at FP16."""
        return self.params * FP16_BYTES


def _split_state(
    state: dict[str, Tensor], head: str
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(LoRA tensors, head tensors keyed ``weight``/``bias``) of a saved adapter."""
    lora: dict[str, Tensor] = {}
    head_state: dict[str, Tensor] = {}
    for key, value in state.items():
        if ".lora_" in key:
            lora[key] = value
            continue
        name = key[len(PREFIX) :] if key.startswith(PREFIX) else key
        owner, _, leaf = name.rpartition(".")
        if owner == head or owner.endswith("." + head):
            head_state[leaf] = value
        else:
            raise AdapterError(
                f"the adapter holds {key!r}, which is neither LoRA nor the head {head!r}: "
                "a bank serves LoRA adapters with a linear task head"
            )
    return lora, head_state


def _head_module(state: dict[str, Tensor], fallback: nn.Module, name: str) -> nn.Module:
    """The task head as a digital ``nn.Linear`` (the model's own when the adapter saved none)."""
    if not state:
        import copy

        return copy.deepcopy(fallback)
    weight = state.get("weight")
    if weight is None or weight.dim() != 2 or set(state) - {"weight", "bias"}:
        raise AdapterError(
            f"adapter {name!r} saved a head that is not a linear layer: "
            "a bank serves linear task heads"
        )
    bias = state.get("bias")
    head = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        head.weight.copy_(weight)
        if bias is not None and head.bias is not None:
            head.bias.copy_(bias)
    head.requires_grad_(False)
    return head


def pick_for_age(bands: dict[float, str], age_s: float, default: str) -> str:
    """The adapter for a chip ``age_s`` seconds after programming: the one of
    the latest band that has started (``bands`` maps a band's start age in
    seconds to an adapter name), or ``default`` before the first band."""
    started = [start for start in bands if start <= age_s]
    return bands[max(started)] if started else default


class AdapterBank:
    """Task adapters on one programmed chip, switched by name.

    ``chip.model`` is the converted task model (e.g. a
    ``BertForSequenceClassification`` with its ``head`` kept digital); its own
    head is a placeholder that each adapter's head replaces.
    """

    def __init__(self, chip: Chip, head: str = "classifier") -> None:
        self.chip = chip
        self.head = head
        self._base = chip.model
        try:
            self._base_head = self._base.get_submodule(head)
        except AttributeError:
            raise AdapterError(
                f"the model has no module {head!r}: name its task head (--head)"
            ) from None
        if isinstance(self._base_head, AnalogLinear):
            raise AdapterError(f"the head {head!r} is analog: convert with exclude=[{head!r}]")
        self.model_fingerprint, self.hardware_fingerprint = _base_binding(self._base)
        self.peft_model: PeftModel | None = None
        self.entries: dict[str, BankEntry] = {}
        self.heads: dict[str, nn.Module] = {}
        self.active: str | None = None
        self._layers: list[Any] | None = None  # peft's LoRA layers, found once
        self._head_parent, _, self._head_attr = head.rpartition(".")

    # -- adding and removing ---------------------------------------------------

    def check(self, adapter_dir: str | Path) -> dict[str, Any]:
        """The adapter's metadata, if it may join this bank; else a one-line error."""
        meta = read_adapter_meta(adapter_dir)
        if meta["model_fingerprint"] != self.model_fingerprint:
            raise AdapterError(
                f"the adapter in {adapter_dir} was trained on another base model "
                f"({meta['model_fingerprint'][:12]} != {self.model_fingerprint[:12]}): "
                "a bank holds adapters of the model its chip was programmed from"
            )
        if meta["hardware_fingerprint"] != self.hardware_fingerprint:
            raise AdapterError(
                f"the adapter in {adapter_dir} was trained for hardware "
                f"{meta.get('hardware', {}).get('name')!r} ({meta['hardware_fingerprint'][:12]}), "
                "not this chip's: retrain it under this chip's hardware config"
            )
        bound = meta.get("chip_fingerprint")
        if bound is not None and bound != self.chip.fingerprint():
            raise AdapterError(
                f"the adapter in {adapter_dir} is calibrated to chip {bound[:12]} (seed "
                f"{meta.get('chip_seed')}), not this one ({self.chip.fingerprint()[:12]}): "
                "serve it on its own chip, or add an ahwa-lora adapter instead"
            )
        return meta

    def add(self, name: str, adapter_dir: str | Path) -> BankEntry:
        """Load an adapter (and its head) into the bank under ``name``."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise AdapterError(
                f"adapter name {name!r} is invalid: use letters, digits, '-' and '_'"
            )
        if name in self.entries:
            raise AdapterError(f"the bank already holds {name!r}: remove it first or pick a name")
        meta = self.check(adapter_dir)
        d = Path(adapter_dir)
        config = LoraConfig.from_pretrained(str(d))
        config.modules_to_save = None  # heads are kept by the bank, one per task
        config.inference_mode = True
        config._register_custom_module({AnalogLinear: AnalogLoraLinear})
        lora_state, head_state = _split_state(load_file(str(d / WEIGHTS)), self.head)
        self._layers = None
        with known_to_peft():
            if self.peft_model is None:
                self.peft_model = get_peft_model(self._base, config, adapter_name=name)
            else:
                self.peft_model.add_adapter(name, config)
        assert self.peft_model is not None
        try:
            result: Any = set_peft_model_state_dict(self.peft_model, lora_state, adapter_name=name)
            missing = [k for k in result.missing_keys if ".lora_" in k and f".{name}." in k]
            bad = bool(result.unexpected_keys or missing)
        except RuntimeError:  # a tensor of another shape
            bad = True
        if bad:
            self._drop(name)
            raise AdapterError(
                f"the adapter in {adapter_dir} does not fit this model's layers: "
                "add adapters trained on this model"
            )
        self.peft_model.eval()
        self.heads[name] = _head_module(head_state, self._base_head, name)
        entry = BankEntry(
            name=name,
            path=d,
            task=meta.get("task"),
            method=meta.get("method"),
            lora_params=sum(t.numel() for t in lora_state.values()),
            head_params=sum(p.numel() for p in self.heads[name].parameters()),
            rank=int(config.r),
            chip_fingerprint=meta.get("chip_fingerprint"),
        )
        self.entries[name] = entry
        if self.active is None:
            self.switch(name)
        else:
            # add_adapter may not change the active one
            self.peft_model.set_adapter(self.active, inference_mode=True)
        return entry

    def _drop(self, name: str) -> None:
        """Undo a half-added adapter."""
        if self.peft_model is None:
            return
        if len(self.peft_model.peft_config) <= 1:
            self.peft_model.unload()  # back to the bare analog model (no merge)
            self.peft_model = None
        else:
            self.peft_model.delete_adapter(name)
            if self.active is not None:
                self.peft_model.set_adapter(self.active, inference_mode=True)

    def remove(self, name: str) -> None:
        """Drop an adapter and its head from the bank."""
        self._require(name)
        if len(self.entries) == 1:
            raise AdapterError(
                f"{name!r} is the bank's only adapter: add another first, or discard the bank"
            )
        if self.active == name:
            other = next(n for n in self.entries if n != name)
            self.switch(other)
        assert self.peft_model is not None and self.active is not None
        self._layers = None
        self.peft_model.delete_adapter(name)
        self.peft_model.set_adapter(self.active, inference_mode=True)
        del self.entries[name], self.heads[name]

    def use_chip(self, chip: Chip) -> None:
        """Serve the bank from another chip programmed from the same model
        (e.g. the next chip of a sweep). Refused while an adapter is
        calibrated to another chip."""
        if chip.model is not self._base:
            raise AdapterError(
                "the chip was programmed on another model object: program the bank's"
            )
        for e in self.entries.values():
            if e.chip_fingerprint is not None and e.chip_fingerprint != chip.fingerprint():
                raise AdapterError(
                    f"adapter {e.name!r} is calibrated to chip {e.chip_fingerprint[:12]}, not "
                    f"{chip.fingerprint()[:12]}: remove it before serving another chip"
                )
        self.chip = chip

    def to(self, device: torch.device | str) -> AdapterBank:
        """Move the chip (the model and its programmed state), the adapters and
        every task head to ``device``; returns the bank."""
        self.chip.to(device)  # the base model, wrapped by peft, with its LoRA branches
        for head in self.heads.values():
            head.to(device)
        return self

    @property
    def base(self) -> nn.Module:
        """The converted model the chip is programmed on (wrapped by peft in place)."""
        return self._base

    # -- serving -----------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def _require(self, name: str) -> None:
        if name not in self.entries:
            from analora.errors import did_you_mean

            raise AdapterError(
                f"the bank holds no adapter {name!r} (it holds {', '.join(self.names) or 'none'})"
                f"{did_you_mean(name, self.names)}: add it first"
            )

    def _set_head(self, module: nn.Module) -> None:
        parent = self._base.get_submodule(self._head_parent) if self._head_parent else self._base
        setattr(parent, self._head_attr, module)

    def switch(self, name: str) -> BankEntry:
        """Make ``name`` the active adapter and head. Moves nothing analog; the
        returned entry's ``fp16_bytes`` is what the switch stands for."""
        self._require(name)
        assert self.peft_model is not None
        if self._layers is None:
            from peft.tuners.tuners_utils import BaseTunerLayer

            self._layers = [m for m in self.peft_model.modules() if isinstance(m, BaseTunerLayer)]
        # The LoRA layers only (a walk over the whole model costs more than the
        # adapter is worth); frozen, as the bank serves inference.
        for layer in self._layers:
            layer.set_adapter(name, inference_mode=True)
        tuner: Any = self.peft_model.base_model
        tuner.active_adapter = name
        self._set_head(self.heads[name])
        self.active = name
        return self.entries[name]

    @property
    def model(self) -> PeftModel:
        """The served model, running the active adapter and head."""
        if self.peft_model is None:
            raise AdapterError("the bank is empty: add an adapter first")
        return self.peft_model

    @torch.no_grad()
    def __call__(self, **inputs: Tensor) -> Any:
        """The active task's model output for ``inputs``."""
        model = self.model
        model.eval()
        return model(**inputs)

    @contextmanager
    def _capture_head_input(self) -> Iterator[list[Tensor]]:
        captured: list[Tensor] = []

        def hook(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
            captured.append(args[0])

        handle = self._base.get_submodule(self.head).register_forward_pre_hook(hook)
        try:
            yield captured
        finally:
            handle.remove()

    @torch.no_grad()
    def forward_mixed(self, tasks: Sequence[str], **inputs: Tensor) -> list[Tensor]:
        """Head outputs of a batch whose example ``i`` belongs to ``tasks[i]``:
        one analog pass through the shared layers for the whole batch, each
        example's own LoRA branch and head. Returns one tensor per example
        (head outputs differ in size from task to task)."""
        model = self.model
        n = next(iter(inputs.values())).shape[0]
        if len(tasks) != n:
            raise AdapterError(f"{len(tasks)} task names for a batch of {n}: give one per example")
        for name in set(tasks):
            self._require(name)
        model.eval()
        with self._capture_head_input() as captured:
            model(**inputs, adapter_names=list(tasks))
        features = captured[-1]
        out: list[Tensor] = [torch.empty(0)] * n
        for name in dict.fromkeys(tasks):
            idx = [i for i, t in enumerate(tasks) if t == name]
            rows = self.heads[name](features[idx])
            for j, i in enumerate(idx):
                out[i] = rows[j]
        return out

    def switch_for_age(self, bands: dict[float, str], default: str) -> BankEntry:
        """Switch to the adapter of the chip's current age band (see
        :func:`pick_for_age`); the chip must have been read."""
        if self.chip.age_s is None:
            raise AdapterError("the chip has not been read: read it at an age first")
        return self.switch(pick_for_age(bands, self.chip.age_s, default))
