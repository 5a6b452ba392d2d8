"""Reinforcement learning with GRPO on math word problems, digital or analog.

GRPO (Shao et al., "DeepSeekMath", 2024) through trl's ``GRPOTrainer``: for
each problem ``num_generations`` completions are sampled, scored by the four
rewards of :mod:`analora.llm.math`, and LoRA adapters move towards the
completions that beat their group's mean. ``analog=True`` runs it on the
analog model under the hardware config's training weight noise (``paper-llm``
at 3 %, as in Li et al., arXiv 2411.17367 v4), which also acts on the
sampled rollouts; ``analog=False`` is the digital reference.

Checkpoints: trl's checkpoints hold pickled optimiser and RNG states, so this
run saves none (``save_strategy="no"``); it saves the finished adapter as
safetensors with a JSON log, and a killed run restarts from the beginning
(runs sized for this library are minutes long).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analora.errors import AnaloraError
from analora.files import atomic_directory, atomic_write_json
from analora.llm.analog import LoraSpec, add_adapters, attach_adapter, to_analog
from analora.llm.math import (
    SYSTEM_PROMPT,
    Problem,
    answer_reward,
    format_approximate,
    format_exact,
    is_correct,
    make_problems,
    number_reward,
    total_reward,
)
from analora.llm.models import load_causal_lm

log = logging.getLogger(__name__)

RL_NOISE = ("training.weight_noise_std=0.03", "device.weight_noise_std=0.03")
"""``--set`` pairs of the paper's RL setting (3 % weight noise)."""
TRAIN_SEED = 2_000_000
"""Training problems use seeds from here on; evaluation problems 0 ... N-1."""


@dataclass(frozen=True)
class GRPOSpec:
    model: str = "smollm2"
    analog: bool = True
    hardware: str = "paper-llm"
    overrides: tuple[str, ...] = RL_NOISE
    steps: int = 8
    num_generations: int = 4
    max_completion_tokens: int = 96
    lr: float = 5e-6
    warmup_steps: int = 0
    weight_decay: float = 0.1
    temperature: float = 1.0
    lora: LoraSpec = field(default_factory=LoraSpec)
    dataset: str = "gsm_symbolic"
    analog_head: bool = False
    seed: int = 0
    init_adapter: str | None = None
    """Start from this saved adapter (e.g. an instruction-tuned one) instead of fresh LoRA."""

    def __post_init__(self) -> None:
        if self.init_adapter is not None and not Path(self.init_adapter).is_dir():
            raise AnaloraError(
                f"--init-adapter {self.init_adapter} is not a directory: pass a saved adapter"
            )
        if self.steps < 1 or self.num_generations < 2 or self.max_completion_tokens < 1:
            raise AnaloraError(
                "--steps >= 1, --generations >= 2 and --max-completion-tokens >= 1 are needed"
            )


def chat_prompt(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]


def _text(completion: Any) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else str(completion)


def _reward(fn: Any) -> Any:
    def reward(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
        texts = [_text(c) for c in completions]
        if fn in (format_exact, format_approximate):
            return [float(fn(t)) for t in texts]
        return [float(fn(t, a)) for t, a in zip(texts, answer, strict=True)]

    reward.__name__ = fn.__name__
    return reward


def build_model(spec: GRPOSpec) -> tuple[nn.Module, Any]:
    """The model GRPO trains: LoRA on the digital or the converted analog model."""
    from analora.hardware import load_hardware

    lm = load_causal_lm(spec.model)
    torch.manual_seed(spec.seed)
    if spec.analog:
        to_analog(lm.model, load_hardware(spec.hardware, list(spec.overrides)), spec.analog_head)
    if spec.init_adapter is None:
        return add_adapters(lm.model, spec.lora, analog=spec.analog), lm.tokenizer
    model = attach_adapter(lm.model, spec.init_adapter, analog=spec.analog)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
    model.train()
    return model, lm.tokenizer


def grpo_run(spec: GRPOSpec, out: str | Path) -> dict[str, Any]:
    """Train with GRPO; save ``out/adapter`` and ``out/grpo.json`` (the reward log)."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    out = Path(out)
    model, tok = build_model(spec)
    problems = make_problems(spec.steps, TRAIN_SEED + spec.seed, spec.dataset)
    data = datasets.Dataset.from_list(
        [{"prompt": chat_prompt(p.question), "answer": p.answer} for p in problems]
    )
    config = GRPOConfig(
        output_dir=str(out / "trl"),
        max_steps=spec.steps,
        per_device_train_batch_size=spec.num_generations,
        num_generations=spec.num_generations,
        max_completion_length=spec.max_completion_tokens,
        learning_rate=spec.lr,
        warmup_steps=spec.warmup_steps,
        weight_decay=spec.weight_decay,
        temperature=spec.temperature,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=spec.seed,
        data_seed=spec.seed,
        dataloader_num_workers=0,
    )
    rewards = [_reward(f) for f in (format_exact, format_approximate, answer_reward, number_reward)]
    trainer = GRPOTrainer(
        model=model,  # type: ignore[arg-type]
        reward_funcs=rewards,
        args=config,
        train_dataset=data,
        processing_class=tok,
    )
    trainer.train()
    model.eval()
    with atomic_directory(out / "adapter") as tmp:
        model.save_pretrained(str(tmp))  # type: ignore[operator]
    record = {"spec": asdict(spec), "log": trainer.state.log_history}
    atomic_write_json(out / "grpo.json", record)
    return record


@torch.no_grad()
def math_eval(
    model: nn.Module,
    tokenizer: Any,
    problems: list[Problem],
    max_new_tokens: int = 128,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Greedy accuracy (0-100), the exact-format rate and the mean reward."""
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    texts: list[str] = []
    try:
        for i in range(0, len(problems), batch_size):
            chunk = problems[i : i + batch_size]
            prompts = [
                tokenizer.apply_chat_template(
                    chat_prompt(p.question), tokenize=False, add_generation_prompt=True
                )
                for p in chunk
            ]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            gen = model.generate(  # type: ignore[operator]
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = gen[:, enc["input_ids"].shape[1] :]
            texts += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    n = max(len(problems), 1)
    correct = [is_correct(t, p.answer) for t, p in zip(texts, problems, strict=True)]
    return {
        "accuracy": 100.0 * sum(correct) / n,
        "format": 100.0 * sum(format_exact(t) > 0 for t in texts) / n,
        "reward": sum(total_reward(t, p.answer) for t, p in zip(texts, problems, strict=True)) / n,
        "problems": len(problems),
        "samples": texts[:3],
    }


def eval_problems(n: int, dataset: str = "gsm_symbolic") -> list[Problem]:
    """The held-out problems (seeds 0 ... n-1; training uses :data:`TRAIN_SEED` on)."""
    return make_problems(n, 0, dataset)
