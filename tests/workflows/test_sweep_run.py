"""``sweep_run`` refuses to resume or reuse a sweep whose inputs changed."""

import shutil
from pathlib import Path

import pytest

from analora.errors import AnaloraError
from analora.workflows import RunSpec, SweepSpec, sweep_run, train_run

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "glue" / "SST-2").is_dir(), reason="needs SST-2")


def test_changed_data_or_deployment_is_named(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    shutil.copytree(DATA / "glue" / "SST-2", data / "glue" / "SST-2")
    run = tmp_path / "direct"
    spec = RunSpec(method="direct", model=str(tiny_dir), task="sst2", max_eval_examples=8,
                   max_length=16)  # fmt: skip
    train_run(spec, run, data_dir=data)
    grid = SweepSpec(run, chips=1, times_s=(0.0,))
    first = sweep_run(grid, tmp_path / "sweep", data_dir=data)
    assert first["configs"]["data"]["fingerprint"]
    assert sweep_run(grid, tmp_path / "sweep", data_dir=data)["cells"] == first["cells"]
    dev = data / "glue" / "SST-2" / "dev.tsv"
    lines = dev.read_text().splitlines()
    dev.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with pytest.raises(AnaloraError, match=r"over other inputs \(data changed"):
        sweep_run(grid, tmp_path / "sweep", data_dir=data)
    dev.write_text("\n".join(lines) + "\n")
    (run / "deployment.json").write_text((run / "deployment.json").read_text() + "\n")
    with pytest.raises(AnaloraError, match=r"over other inputs \(deployment changed"):
        sweep_run(grid, tmp_path / "sweep", data_dir=data)
