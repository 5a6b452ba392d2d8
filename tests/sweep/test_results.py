"""Results as data: aggregates, the JSON/CSV pair, reading back without torch."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analora.sweep.results import (
    FORMAT,
    ResultsError,
    aggregate,
    read_results,
    time_label,
    write_results,
)


def test_aggregate_by_hand(make_results) -> None:  # type: ignore[no-untyped-def]
    agg = aggregate(make_results()["cells"], [0.0, 31536000.0])
    # t=0: chips give 80 and 76: mean 78, sample std sqrt(((2)^2 + (2)^2) / 1) = 2.828...
    assert agg[0]["metrics"]["accuracy"]["mean"] == pytest.approx(78.0)
    assert agg[0]["metrics"]["accuracy"]["std"] == pytest.approx(8**0.5)
    assert agg[0]["metrics"]["accuracy"]["n"] == 2
    one = aggregate([{"chip_seed": 0, "t_s": 5.0, "metrics": {"f1": 3.0}}], [5.0])
    assert one[0]["metrics"]["f1"] == {"mean": 3.0, "std": 0.0, "n": 1}


def test_time_labels() -> None:
    labels = [time_label(t) for t in (0.0, 3600.0, 86400.0, 604800.0, 2592000.0, 31536000.0)]
    assert labels == ["0 s", "1 h", "1 d", "1 w", "30 d", "1 y"]
    assert time_label(315360000.0) == "10 y" and time_label(42.0) == "42 s"


def test_write_and_read_back(tmp_path, make_results) -> None:  # type: ignore[no-untyped-def]
    res = make_results()
    json_path, csv_path = write_results(tmp_path, res)
    back = read_results(tmp_path)
    assert back["aggregates"] == res["aggregates"] and back["_path"] == str(json_path)
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("kind,method,task,chip_seed,t_s,metric,value,std,n")
    assert sum(r.startswith("cell,") for r in rows) == 4
    assert sum(r.startswith("mean,") for r in rows) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "other/1"}), "is not an analora-results/1 file"),
        (json.dumps({"format": FORMAT, "method": "x"}), "lacks"),
    ],
)
def test_bad_results_files(tmp_path, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        read_results(path)
    with pytest.raises(ResultsError, match="does not exist"):
        read_results(tmp_path / "missing.json")


def test_reading_and_reporting_never_import_torch(tmp_path, make_results) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    write_results(tmp_path / "a", make_results())
    code = (
        "import sys\n"
        "from analora.sweep.results import read_results\n"
        "from analora.sweep.report import build_report\n"
        f"read_results({str(tmp_path / 'a')!r})\n"
        f"build_report([{str(tmp_path / 'a')!r}], {str(tmp_path / 'rep')!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(tmp_path / "rep" / "report.md").is_file()
