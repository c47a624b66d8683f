"""hwdiff.api: README's Python example runs as written, and gives what `hwdiff search` gives."""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from hwdiff.generator import train as generator_train

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "README.md should hold exactly one Python example"
    return blocks[0]


@pytest.mark.slow  # trains a generator
def test_readme_example_runs_and_matches_the_cli(cli, capsys, monkeypatch, one_thread):
    # the example trains the default generator; a shorter default keeps the test small (same code path)
    monkeypatch.setattr(generator_train, "DEFAULT_TRAIN", replace(generator_train.DEFAULT_TRAIN, steps=300))
    scope: dict = {}
    exec(compile(readme_python(), str(README), "exec"), scope)  # noqa: S102  (our own README)
    printed = capsys.readouterr().out.splitlines()
    result = scope["result"]
    assert result.candidates and len(printed) == len(result.candidates)
    for line, c in zip(printed, result.candidates):
        assert line.split()[0] == c.arch and c.accuracy >= 0.93 and c.latency_ms <= 10.0
    shown = cli("search", "--acc", "0.93", "--latency", "10ms", "--train-steps", "300", "--json")
    assert shown.code == 0, shown.err
    doc = json.loads(shown.out)
    assert doc["candidates"] == [c.to_json() for c in result.candidates]
    assert doc["targets"] == result.targets.to_json() and doc["constraints"] == {"acc": 0.93, "latency_ms": 10.0}
