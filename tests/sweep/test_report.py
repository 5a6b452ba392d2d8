"""Reports from result files alone: Markdown table, PNG plot, HTML page."""

import pytest

from analora.cli import main
from analora.sweep.results import write_results


@pytest.fixture
def two_methods(tmp_path, make_results):  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    write_results(tmp_path / "direct", make_results("direct"))
    write_results(tmp_path / "lora", make_results("ahwa-lora", (82.0, 81.0, 80.0, 80.0)))
    return tmp_path


def test_report_table_plot_and_html(two_methods, capsys) -> None:  # type: ignore[no-untyped-def]
    out = two_methods / "report"
    argv = ["report", str(two_methods / "lora"), str(two_methods / "direct"), "--out", str(out)]
    assert main([*argv, "--html"]) == 0
    printed = capsys.readouterr().out
    md = (out / "report.md").read_text()
    # Methods in the paper's order, mean ± std per time, digital reference.
    assert md.index("| direct |") < md.index("| ahwa-lora |")
    assert "| direct | 2 | 85.00 | 78.00 ± 2.83 | 76.50 ± 2.12 |" in md
    assert "| method | chips | digital | 0 s | 1 y |" in printed
    png = (out / "sst2.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page


def test_report_refuses_a_bad_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "results.json"
    bad.write_text("[]")
    assert main(["report", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not an analora-results/1 file" in err and len(err.strip().splitlines()) == 1


def test_same_results_give_the_same_report_bits(two_methods) -> None:  # type: ignore[no-untyped-def]
    from analora.sweep.report import build_report

    paths = [two_methods / "direct", two_methods / "lora"]
    a = build_report(paths, two_methods / "a", html_page=True)
    b = build_report(paths, two_methods / "b", html_page=True)
    for name in ("report.md", "sst2.png", "report.html"):
        assert (two_methods / "a" / name).read_bytes() == (two_methods / "b" / name).read_bytes()
    assert a["text"] == b["text"]


def test_table_one_names_a_method_that_did_not_learn(make_results) -> None:  # type: ignore[no-untyped-def]
    from analora.studies.analysis import constant, table_one

    learned = make_results("direct")
    stuck = make_results("ahwa-lora", (68.4, 68.4, 68.4, 68.4))
    stuck["digital"] = {"accuracy": 68.4}
    assert constant(stuck) and not constant(learned)
    near = make_results("ahwa", (68.4, 68.4, 68.4, 68.4))  # digital 85: it learned, chips ruin it
    assert not constant(near)
    table = table_one("sst2", {"direct": learned, "ahwa-lora": stuck, "ahwa": near})
    assert "Did not learn: ahwa-lora (" in table


def test_a_claim_on_a_method_that_did_not_learn_says_so() -> None:
    from analora.studies.analysis import claims

    row = {"t_s": 315360000.0, "mean": -24.0, "half_width": 3.4, "n": 5}
    analyses = {"pairs/cola": {"ahwa-lora - direct": [row]}, "did-not-learn/cola": ["ahwa-lora"]}
    found = {c["claim"]: c["verdict"] for c in claims({"analyses": analyses})}
    verdict = found["cola: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert verdict == "not reproduced (ahwa-lora did not learn)"
    not_run = found["cola: AHWA-LoRA within 1 point of full AHWA at 0 s"]
    assert not_run == "not testable here (not run)"  # no reason where nothing was compared
    analyses["did-not-learn/cola"] = []
    found = {c["claim"]: c["verdict"] for c in claims({"analyses": analyses})}
    assert found["cola: AHWA-LoRA holds accuracy better than direct deployment at 10 years"] == (
        "not reproduced"
    )


def test_claims_on_a_task_whose_reference_missed_its_floor_are_not_testable() -> None:
    from analora.studies.analysis import claims

    row = {"t_s": 315360000.0, "mean": -11.5, "half_width": 3.0, "n": 5}
    floor = {"metric": "accuracy", "floor": 56.34, "final": 22.54, "met": False}
    analyses = {"pairs/wnli": {"ahwa-lora - direct": [row]}, "floors": {"wnli": floor}}
    found = {c["claim"]: c for c in claims({"analyses": analyses})}
    claim = found["wnli: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert claim["verdict"] == "not testable here (digital-lora below its floor: 22.54 < 56.34)"
    assert claim["here"].startswith("-11.50")  # the numbers stay visible
    floor["met"] = True
    found = {c["claim"]: c for c in claims({"analyses": analyses})}
    claim = found["wnli: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert claim["verdict"] == "not reproduced"


def test_claims_against_direct_need_an_adapter_that_learned_the_task() -> None:
    from analora.studies.analysis import claims

    ten, zero = 315360000.0, 0.0
    vs_direct = [{"t_s": ten, "mean": 2.5, "half_width": 2.4, "n": 5}]
    vs_ahwa = [{"t_s": zero, "mean": -5.0, "half_width": 2.9, "n": 5}]
    floor = {"metric": "accuracy", "floor": 58.0, "final": 61.0, "met": True}
    analyses = {
        "pairs/rte": {"ahwa-lora - direct": vs_direct, "ahwa-lora - ahwa": vs_ahwa},
        "floors": {"rte": floor},
    }
    lora = {"metric": "accuracy", "digital": 54.15, "chips": 5, "ages": {}}
    report = {"analyses": analyses, "summary": {"tasks": {"rte": {"ahwa-lora": lora}}}}
    found = {c["claim"]: c for c in claims(report)}
    held = found["rte: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert held["verdict"] == (
        "not testable here (ahwa-lora did not learn the task: noise-free 54.15 < floor 58)"
    )
    assert held["here"].startswith("+2.50")  # the numbers stay visible
    # The comparison with full AHWA keeps its verdict: not learning is a result there.
    assert found["rte: AHWA-LoRA within 1 point of full AHWA at 0 s"]["verdict"] == (
        "not reproduced"
    )
    lora["digital"] = 60.0
    found = {c["claim"]: c for c in claims(report)}
    held = found["rte: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert held["verdict"] == "reproduced"
    lora["metric"], lora["digital"] = "f1", 54.15  # another metric than the floor's: no test
    found = {c["claim"]: c for c in claims(report)}
    held = found["rte: AHWA-LoRA holds accuracy better than direct deployment at 10 years"]
    assert held["verdict"] == "reproduced"


def test_drift_is_the_change_on_each_chip_paired_by_chip(make_results) -> None:  # type: ignore[no-untyped-def]
    from analora.studies.analysis import TEN_YEARS_S, changes, claims, drift_table, pairs_table

    def at_ten_years(method: str, scores: dict[int, tuple[float, float]]) -> dict:  # type: ignore[type-arg]
        res = make_results(method)
        res["times_s"] = [0.0, TEN_YEARS_S]
        res["cells"] = [
            {"chip_seed": seed, "t_s": t_s, "metrics": {"accuracy": value}}
            for seed, pair in scores.items()
            for t_s, value in zip((0.0, TEN_YEARS_S), pair, strict=True)
        ]
        return res

    # direct loses 10, 4 and 7 points; ahwa-lora 1, 2 and 0 on the same chips
    direct = at_ten_years("direct", {1: (90.0, 80.0), 2: (86.0, 82.0), 3: (88.0, 81.0)})
    adapted = at_ten_years("ahwa-lora", {1: (84.0, 83.0), 2: (85.0, 83.0), 3: (83.0, 83.0)})
    assert changes(direct) == {1: -10.0, 2: -4.0, 3: -7.0}
    text, found = drift_table("sst2", {"direct": direct, "ahwa-lora": adapted})
    paired = found["ahwa-lora - direct"]
    assert paired["mean"] == pytest.approx(6.0) and paired["n"] == 3  # (9 + 2 + 7) / 3
    # paired by chip: the spread of the per-chip differences, t(2) = 4.303
    assert paired["half_width"] == pytest.approx(4.303 * 3.6056 / 3**0.5, rel=1e-3)
    assert "| ahwa-lora - direct | +6.00 ± " in text
    _, pairs = pairs_table("sst2", {"direct": direct, "ahwa-lora": adapted})
    analyses = {"pairs/sst2": pairs, "drift/sst2": found}
    found_claims = {c["claim"]: c for c in claims({"analyses": analyses})}
    claim = (
        "sst2: AHWA-LoRA loses less than direct deployment from 0 s to 10 years on the same chip"
    )
    assert found_claims[claim]["verdict"] == "inconclusive"  # 6.00 ± 8.96 straddles 0


def test_the_bank_verdict_pairs_the_average_by_chip(make_results) -> None:  # type: ignore[no-untyped-def]
    from analora.studies.analysis import _bank_verdict
    from analora.studies.multitask import summarize

    bank = make_results("ahwa-lora", (80.0, 78.0, 76.0, 75.0))  # chip 1: 0 s, 1 y; chip 2: ...
    alone = make_results("ahwa-lora", (79.0, 78.0, 75.0, 75.0))
    gaps = summarize({"sst2": bank}, {"sst2": alone})["average_gap_by_chip"]
    assert gaps == {"0.0": {"1": 1.0, "2": 1.0}, "31536000.0": {"1": 0.0, "2": 0.0}}

    def row(mean: float, half: float | None) -> dict:  # type: ignore[type-arg]
        return {"t_s": 0.0, "mean": mean, "half_width": half, "n": 5}

    assert _bank_verdict([row(0.1, 0.5), row(-0.3, 0.6)]) == "reproduced"  # inside +-1
    assert _bank_verdict([row(0.1, 0.5), row(0.5, 1.0)]) == "inconclusive"  # one straddles
    assert _bank_verdict([row(0.1, 0.5), row(3.0, 0.5)]) == "not reproduced"  # one outside
    assert _bank_verdict([row(0.1, None)]) == "inconclusive (fewer than 2 chips)"


def test_the_rank_knee_is_judged_on_paired_differences_at_ten_years(make_results) -> None:  # type: ignore[no-untyped-def]
    from analora.studies.analysis import TEN_YEARS_S, claims, rank_section

    def run(method: str, at_ten: tuple[float, float, float]) -> dict:  # type: ignore[type-arg]
        res = make_results(method)
        res["times_s"] = [0.0, TEN_YEARS_S]
        res["cells"] = [
            {"chip_seed": seed, "t_s": t_s, "metrics": {"accuracy": value}}
            for seed, value in zip((1, 2, 3), at_ten, strict=True)
            for t_s in (0.0, TEN_YEARS_S)
        ]
        res["aggregates"] = []
        return res

    r4, r8 = run("ahwa-lora-r4", (80.0, 81.0, 80.5)), run("ahwa-lora", (83.0, 84.0, 83.4))
    r16 = run("ahwa-lora-r16", (83.1, 84.1, 83.4))  # +0.07 over r = 8 on every chip pairing
    study = {"sst2": {"ahwa-lora": r8, "ahwa-lora-r4": r4, "ahwa-lora-r16": r16}}
    _, data = rank_section(study)
    assert data["knee"]["sst2"]["r8 - r4"]["mean"] == pytest.approx(2.9667, abs=1e-3)
    name = "sst2: rank r = 8 is the knee (r = 8 beats r = 4, r = 16 adds less than a point)"
    verdicts = {c["claim"]: c["verdict"] for c in claims({"analyses": {"rank": data}})}
    assert verdicts[name] == "reproduced"
    del study["sst2"]["ahwa-lora-r16"]
    _, data = rank_section(study)
    verdicts = {c["claim"]: c["verdict"] for c in claims({"analyses": {"rank": data}})}
    assert verdicts[name] == "inconclusive (r=16 not run)"
    study = {"sst2": {"ahwa-lora-r4": r4, "ahwa-lora-r16": r16}}  # r = 8 not swept (yet)
    text, data = rank_section(study)
    assert "| task | r=4 | r=16 |" in text and data["knee"]["sst2"] == {}
    verdicts = {c["claim"]: c["verdict"] for c in claims({"analyses": {"rank": data}})}
    assert verdicts[name] == "inconclusive (r=8 not run)"
