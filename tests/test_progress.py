"""Progress lines when stderr is not a terminal; --quiet and --verbose."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from analora import progress
from analora.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _normal_level() -> Iterator[None]:
    progress.configure()
    yield
    progress.configure()


def _run(n: int, step_s: float = 1.0, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    out, clock = io.StringIO(), Clock()
    with Progress("sweep", total=n, unit="cell", stream=out, clock=clock, **kwargs) as bar:
        for i in range(n):
            clock.t += step_s
            bar.update(1, note=f"cell {i}")
    return out.getvalue().splitlines()


def test_a_line_every_five_percent_with_eta() -> None:
    lines = _run(200)
    assert len(lines) == 21  # 0%, 5%, ..., 100%
    half = next(ln for ln in lines if " 50% " in ln)
    assert "100/200 cells" in half and "01:40 elapsed, ETA 01:40" in half and "(1 cell/s)" in half
    assert lines[-1].startswith("sweep: 100% 200/200 cells") and "ETA 00:00" in lines[-1]


def test_quiet_and_verbose() -> None:
    progress.configure(quiet=True)
    assert _run(50) == []
    progress.configure(verbose=1)
    assert len(_run(200)) == 101  # every percent


def test_unknown_total_heartbeat_and_slow_rates() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Progress("train", unit="step", stream=out, clock=clock, heartbeat_s=60)
    for _ in range(10):
        clock.t += 30.0
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 6  # at once, then every 60 s (90, 150, 210, 270), and at the end
    assert lines[0] == "train: 1 steps, 00:30 elapsed (30 s/step)"
    assert lines[-1] == "train: 10 steps, 05:00 elapsed (30 s/step)"


def test_terminal_rewrites_one_line() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("program", total=3, unit="layer", stream=out, tty=True, clock=clock) as bar:
        for _ in range(3):
            clock.t += 1.0
            bar.update()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.count("\r") >= 3 and "100% 3/3 layers" in text


def test_an_error_leaves_the_terminal_line() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), Progress("x", total=4, stream=out, tty=True) as bar:
        bar.update()
        raise RuntimeError
    assert out.getvalue().endswith("\n")


def test_format_duration() -> None:
    assert format_duration(5) == "00:05" and format_duration(3725) == "1:02:05"
    assert format_duration(float("nan")) == "?"
