"""README's Python example runs as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def test_readme_is_short_and_its_example_runs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    monkeypatch.setenv("ANALORA_DATA_DIR", str(DATA.resolve()))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert (tmp_path / "runs" / "example" / "sweep" / "results.json").is_file()
    assert set(namespace["run"].metrics) == {"accuracy"}
    assert [a["t_s"] for a in namespace["results"]["aggregates"]] == [0.0, 315360000.0]


def test_every_command_line_in_readme_parses() -> None:
    import shlex

    from analora.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("analora "):
                lines.append(shlex.split(line)[1:])
    assert len(lines) >= 7
    for argv in lines:
        args = build_parser(argv).parse_args(argv)
        assert callable(args.func), argv
