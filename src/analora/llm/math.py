"""GSM8K-style math problems, the answer format and the rewards for GRPO.

Problems come from ``reasoning-gym`` (``gsm_symbolic``: GSM8K-derived
templates with numeric answers and worked solutions; Apache-2.0), problem
``i`` of a set drawn with seed ``seed + i`` so that sets never overlap by
accident. The answer format is the paper's (Li et al., arXiv 2411.17367 v4,
Sec. on reinforcement learning): ``<start_working_out> ... <end_working_out>
<SOLUTION> ... </SOLUTION>``. Four rewards add up to at most 9.5, as there:
the exact format (3.0), each of the four tags present exactly once (0.5 each,
-1.0 each otherwise), the answer in the solution tags (3.0 if exact, 1.5 if
equal up to spaces or commas, -1.0 otherwise) and the number in the solution
tags (1.5 if numerically equal). Accuracy counts a completion correct when
the number in its solution tags, or failing that its last number, equals the
answer (graded by reasoning-gym's ``score_answer``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analora.errors import AnaloraError

START, END = "<start_working_out>", "<end_working_out>"
SOL_START, SOL_END = "<SOLUTION>", "</SOLUTION>"
SYSTEM_PROMPT = (
    "You are given a problem. Think about the problem and provide your working out. "
    f"Place it between {START} and {END}. "
    f"Then, provide your solution between {SOL_START}{SOL_END}"
)
_EXACT = re.compile(
    rf"^\s*{re.escape(START)}.+?{re.escape(END)}\s*{re.escape(SOL_START)}(.+?){re.escape(SOL_END)}\s*$",
    re.DOTALL,
)
_SOLUTION = re.compile(rf"{re.escape(SOL_START)}\s*(.+?)\s*{re.escape(SOL_END)}", re.DOTALL)
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")
MAX_REWARD = 9.5


@dataclass(frozen=True)
class Problem:
    question: str
    answer: str
    solution: str
    """A worked solution in the answer format (for instruction tuning)."""


def parse_dataset(dataset: str) -> tuple[str, dict[str, int | float | bool | str]]:
    """``NAME`` or ``NAME:key=value,...`` (a reasoning-gym dataset and its
    config, e.g. ``chain_sum:max_terms=3,max_digits=2``) as (name, kwargs)."""
    name, _, rest = dataset.partition(":")
    kwargs: dict[str, int | float | bool | str] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise AnaloraError(
                f"--dataset {dataset!r}: {item!r} is not key=value "
                "(e.g. chain_sum:max_terms=3,max_digits=2)"
            )
        value: int | float | bool | str = raw.strip()
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                pass
        if raw.strip() in ("true", "false"):
            value = raw.strip() == "true"
        kwargs[key.strip()] = value
    return name.strip(), kwargs


def make_problems(n: int, seed: int, dataset: str = "gsm_symbolic") -> list[Problem]:
    """``n`` problems of ``dataset`` (see :func:`parse_dataset`); problem ``i``
    drawn with seed ``seed + i``. The worked solution is the dataset's chain
    of thought, else its expression and the answer."""
    try:
        import reasoning_gym
    except ImportError:
        raise AnaloraError("math problems need reasoning-gym: pip install reasoning-gym") from None
    name, kwargs = parse_dataset(dataset)
    out = []
    for i in range(n):
        try:
            entry = reasoning_gym.create_dataset(name, size=1, seed=seed + i, **kwargs)[0]
        except (ValueError, TypeError, AssertionError, KeyError) as exc:
            raise AnaloraError(f"--dataset {dataset!r} is not a reasoning-gym set: {exc}") from None
        meta = entry["metadata"]
        cot = meta.get("answer_cot") or ""
        cot = re.sub(r"\n?####.*$", "", cot).strip()
        if not cot and meta.get("expression"):
            cot = f"{meta['expression']} = {entry['answer']}"
        cot = cot or "I compute the answer."
        solution = f"{START}{cot}{END}{SOL_START}{entry['answer']}{SOL_END}"
        out.append(Problem(entry["question"], str(entry["answer"]), solution))
    return out


def solution_text(completion: str) -> str | None:
    m = _SOLUTION.search(completion)
    return m.group(1).strip() if m else None


def _to_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[0].replace(",", "").rstrip("."))
    except ValueError:
        return None


def extract_answer(completion: str) -> str | None:
    """The number in the solution tags, else the completion's last number."""
    sol = solution_text(completion)
    if sol is not None:
        num = _to_number(sol)
        return sol if num is None else _fmt(num)
    found = _NUMBER.findall(completion)
    if not found:
        return None
    num = _to_number(found[-1])
    return None if num is None else _fmt(num)


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def is_correct(completion: str, answer: str) -> bool:
    got = extract_answer(completion)
    if got is None:
        return False
    try:
        return float(got) == float(answer)
    except ValueError:
        return got.strip() == answer.strip()


def format_exact(completion: str) -> float:
    return 3.0 if _EXACT.match(completion) else 0.0


def format_approximate(completion: str) -> float:
    return sum(0.5 if completion.count(t) == 1 else -1.0 for t in (START, END, SOL_START, SOL_END))


def answer_reward(completion: str, answer: str) -> float:
    sol = solution_text(completion)
    if sol is None:
        return 0.0
    if sol == answer:
        return 3.0
    if sol.replace(",", "").replace(" ", "") == answer.replace(",", "").replace(" ", ""):
        return 1.5
    return -1.0


def number_reward(completion: str, answer: str) -> float:
    sol = solution_text(completion)
    num = None if sol is None else _to_number(sol)
    try:
        return 1.5 if num is not None and num == float(answer) else 0.0
    except ValueError:
        return 0.0


def total_reward(completion: str, answer: str) -> float:
    return (
        format_exact(completion)
        + format_approximate(completion)
        + answer_reward(completion, answer)
        + number_reward(completion, answer)
    )
