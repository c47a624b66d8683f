"""hwdiff.api: README's Python example runs as written, and gives what `hwdiff search` gives."""

import json
import re
from pathlib import Path

import pytest

from hwdiff.search.config import EvalConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "README.md should hold exactly one Python example"
    return blocks[0]


@pytest.mark.slow  # trains a generator
def test_readme_example_runs_and_matches_the_cli(cli, capsys, hwdiff_home, one_thread):
    # the example answers from the shipped shared generator: nothing is trained or stored
    scope: dict = {}
    exec(compile(readme_python(), str(README), "exec"), scope)  # noqa: S102  (our own README)
    printed = capsys.readouterr().out.splitlines()
    result = scope["result"]
    assert result.candidates and len(printed) == len(result.candidates)
    for line, c in zip(printed, result.candidates):
        assert line.split()[0] == c.arch and c.accuracy >= 0.93 and c.latency_ms <= 10.0
    shown = cli("search", "--acc", "0.93", "--latency", "10ms", "--json")
    assert shown.code == 0, shown.err
    doc = json.loads(shown.out)
    assert doc["generator"]["kind"] == "shared" and not (hwdiff_home / "models").exists()
    assert doc["candidates"] == [c.to_json() for c in result.candidates]
    assert doc["targets"] == result.targets.to_json() and doc["constraints"] == {"acc": 0.93, "latency_ms": 10.0}


# -- the library refuses what the CLI refuses, with the same checks ------------------------------------
def _bad_requests() -> list:
    from hwdiff.api import Constraints, SearchRequest

    return [
        pytest.param(lambda: SearchRequest(seed=-1), "--seed", id="seed -1"),
        pytest.param(lambda: SearchRequest(seed=2**32), "--seed", id="seed 2**32"),
        pytest.param(lambda: SearchRequest(top=0), "--top", id="top 0"),
        pytest.param(lambda: SearchRequest(samples=10**9), "--samples", id="samples huge"),
        pytest.param(lambda: SearchRequest(steps=501), "--steps", id="steps 501"),
        pytest.param(lambda: SearchRequest(train_steps=0), "--train-steps", id="train_steps 0"),
        pytest.param(lambda: SearchRequest(labels=0), "--labels", id="labels 0"),
        pytest.param(lambda: SearchRequest(labels=100_000_000), "--labels", id="labels huge"),
        pytest.param(lambda: SearchRequest(weights=(float("nan"),)), "weights", id="weights nan"),
        pytest.param(lambda: SearchRequest(guidance="composed", weights=(1.0,)), "weights", id="composed one"),
        pytest.param(lambda: SearchRequest(guidance="sideways"), "guidance", id="guidance"),
        pytest.param(lambda: SearchRequest(weights=None), "weights", id="weights None"),
        pytest.param(lambda: SearchRequest(weights=(1e300,)), "weights", id="weights 1e300"),
        pytest.param(lambda: Constraints(accuracy=float("nan")), "accuracy", id="accuracy nan"),
        pytest.param(lambda: Constraints(accuracy=93.0), "accuracy", id="accuracy 93"),
        pytest.param(lambda: Constraints(latency_ms=-1.0), "latency", id="latency -1"),
        pytest.param(lambda: Constraints(latency_ms=float("inf")), "latency", id="latency inf"),
        pytest.param(lambda: Constraints(latency_ms="10ms"), "latency", id="latency text"),
    ]


@pytest.mark.parametrize("make, names", _bad_requests())
def test_typed_requests_refuse_what_the_cli_refuses(make, names):
    from hwdiff.errors import HwdiffError

    with pytest.raises(HwdiffError) as refused:
        make()
    assert len(str(refused.value).splitlines()) == 1 and names in str(refused.value)


@pytest.mark.parametrize("call, names", [
    (lambda api: api.train(seed=-1), "--seed"),
    (lambda api: api.train(train_steps=0), "--train-steps"),
    (lambda api: api.train(labels=15_626), "--labels"),
    (lambda api: api.profile("cpu", seed=2**32), "--seed"),
    (lambda api: api.profile("cpu", rounds=10**8), "--rounds"),
    (lambda api: api.profile("cpu", networks=20, rounds=10**8), "--rounds"),
    (lambda api: api.evaluate(EvalConfig(device="pixel3", latency_ms=float("nan"))), "latency"),
])
def test_library_calls_refuse_before_any_work(hwdiff_home, call, names):
    from hwdiff import api
    from hwdiff.errors import HwdiffError

    with pytest.raises(HwdiffError, match=names):
        call(api)
    assert not hwdiff_home.exists() or not any(hwdiff_home.rglob("*.pt"))
