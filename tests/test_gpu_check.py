"""benchmarks/gpu_check.py tests itself on the CPU (its cheapest path): every
check runs through the same code a GPU run takes, and the record is written."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def _gpu_check():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, checks: str) -> dict:
    out = tmp_path / "engine.json"
    out.write_text(json.dumps({"results": {"eval_ratio": 1.0}}))
    argv = ["--device", "cpu", "--quick", "--no-bench", "--checks", checks, "--out", str(out)]
    rc = _gpu_check().main(argv)
    data = json.loads(out.read_text())
    found = data["cpu_selfcheck"]["checks"]
    assert rc == 0, {k: v.get("error") for k, v in found.items()}
    assert data["results"] == {"eval_ratio": 1.0}  # the CPU record is kept
    assert set(found) == set(checks.split(","))
    return found


def test_gpu_check_layer_and_model_on_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    found = _run(tmp_path, "layer,model")
    assert found["layer"]["same_bits_twice_on_device"]
    assert found["model"]["cpu"]["same_fingerprint_twice"]


@pytest.mark.slow
def test_gpu_check_training_and_sweep_on_cpu(minilm_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    assert _run(tmp_path, "train_sweep")["train_sweep"]["sweep"]["cells"] == 4
