"""A space owns its facts: a third space, defined in this file alone, works with train, search, predict
and build (a made-up accuracy table, a latency table imported as a profile, a tiny timm network)."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from timm.models import register_model
from torch import nn

from hwdiff import api
from hwdiff.errors import InvalidArchError
from hwdiff.search.constraints import Constraints
from hwdiff.spaces import DatasetInfo, GraphSpec, NodeAttribute, SearchSpace, get_space, register_space, space_names

OPS = ("narrow", "wide", "skip")
NODES = 3  # a fixed chain: node i feeds node i + 1; each node is one op
WIDTH = {"narrow": 4, "wide": 16, "skip": 0}
ARCHS = ["-".join(ops) for ops in itertools.product(OPS, repeat=NODES)]
# made up: wider is more accurate and slower; the index breaks ties
ACCURACY = {a: round(0.4 + 0.01 * sum(WIDTH[o] for o in a.split("-")) + 0.001 * i, 4) for i, a in enumerate(ARCHS)}
LATENCY = {a: round(0.5 + sum(WIDTH[o] for o in a.split("-")) / 8 + 0.01 * i, 3) for i, a in enumerate(ARCHS)}


class ChainNet(nn.Module):
    def __init__(self, arch: str, num_classes: int = 4, **_):
        super().__init__()
        layers, channels = [], 3
        for op in arch.split("-"):
            if WIDTH[op]:
                layers += [nn.Conv2d(channels, WIDTH[op], 3, padding=1), nn.ReLU()]
                channels = WIDTH[op]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@register_model
def chain3_test_net(pretrained: bool = False, arch: str = "narrow-narrow-narrow", **kwargs) -> nn.Module:
    return ChainNet(arch, **kwargs)


class MadeUpAccuracy:
    space, source, metric = "chain3", "table", "made-up toy accuracy"

    def __init__(self, dataset: str):
        self.dataset = dataset

    def predict(self, archs):
        return np.array([ACCURACY[a] for a in archs]), None

    def value_range(self):
        return min(ACCURACY.values()), max(ACCURACY.values())


@register_space
class ChainSpace(SearchSpace):
    name = "chain3"
    description = "three ops on a fixed chain of three nodes (a test space)"
    datasets = {"toy": DatasetInfo("toy", 4, (3, 8, 8), "made-up 8x8 images, 4 classes")}
    graph_spec = GraphSpec(num_nodes=NODES, node_attributes=(NodeAttribute("op", OPS),),
                           edge_categories=("none", "edge"), free_nodes=tuple(range(NODES)),
                           fixed_edges=np.eye(NODES, k=1, dtype=np.int64))
    default_device = "toyboard"

    def canonical(self, arch: str) -> str:
        ops = arch.strip().split("-")
        if len(ops) != NODES or any(o not in OPS for o in ops):
            raise InvalidArchError(f"{arch!r} is not {NODES} of {', '.join(OPS)} joined by '-'")
        return "-".join(ops)

    def encode(self, archs):
        nodes = np.array([[[OPS.index(o)] for o in a.split("-")] for a in archs], dtype=np.int64)
        return nodes.reshape(len(archs), NODES, 1), np.broadcast_to(self.graph_spec.fixed_edges,
                                                                      (len(archs), NODES, NODES)).copy()

    def decode(self, nodes, edges):
        return ["-".join(OPS[i] for i in row[:, 0]) for row in nodes]

    @property
    def size(self) -> int:
        return len(ARCHS)

    def enumerate(self):
        return list(ARCHS)

    def random_archs(self, n, rng):
        return [ARCHS[i] for i in rng.integers(0, len(ARCHS), n)]

    def mutate(self, arch, rng):
        ops = arch.split("-")
        i = int(rng.integers(NODES))
        ops[i] = rng.choice([o for o in OPS if o != ops[i]])
        return "-".join(ops)

    def timm_name(self, dataset: str) -> str:
        return "chain3_test_net"

    def _accuracy_oracle(self, dataset: str):
        return MadeUpAccuracy(dataset)

    def build_details(self, arch: str) -> dict:
        return {"convolutions": sum(WIDTH[o] > 0 for o in arch.split("-"))}


@pytest.fixture
def toy_profile(tmp_path, cli):
    """The made-up latency table imported as the default device's profile."""
    table = tmp_path / "toyboard.csv"
    table.write_text("arch,latency_ms\n" + "".join(f"{a},{ms}\n" for a, ms in LATENCY.items()))
    assert cli("profile", "--device", "toyboard", "--space", "chain3", "--from-table", str(table)).code == 0


def test_the_space_is_registered():
    assert "chain3" in space_names()
    assert get_space("chain3").default_dataset == "toy"


@pytest.mark.slow  # trains a generator
def test_train_search_predict_build_on_a_space_defined_in_a_test(cli, toy_profile, one_thread):
    trained = cli("train", "--space", "chain3", "--train-steps", "50", "--json")
    assert trained.code == 0, trained.err
    meta = json.loads(trained.out)
    assert (meta["space"], meta["dataset"], meta["device"], meta["training_archs"]) == ("chain3", "toy", "toyboard",
                                                                                        27)
    found = cli("search", "--space", "chain3", "--latency", "4ms", "--samples", "200", "--train-steps", "50", "--json")
    assert found.code == 0, found.err
    doc = json.loads(found.out)
    assert doc["candidates"], doc
    for c in doc["candidates"]:
        assert c["latency_ms"] <= 4.0 and c["accuracy"] == ACCURACY[c["arch"]] and c["latency_ms"] == LATENCY[c["arch"]]
    ranked = [c["accuracy"] for c in doc["candidates"]]
    assert ranked == sorted(ranked, reverse=True)
    predicted = cli("predict", "wide-skip-narrow", "--space", "chain3", "--json")
    assert predicted.code == 0, predicted.err
    assert json.loads(predicted.out)[0]["accuracy"] == ACCURACY["wide-skip-narrow"]
    built = cli("build", "wide-skip-narrow", "--space", "chain3", "--device", "toyboard", "--json")
    assert built.code == 0, built.err
    summary = json.loads(built.out)
    net = ChainNet("wide-skip-narrow")
    assert summary["params"] == sum(p.numel() for p in net.parameters())
    assert summary["details"] == {"convolutions": 2}
    assert summary["latency"]["ms"] == LATENCY["wide-skip-narrow"]
    bad = cli("predict", "wide-wide", "--space", "chain3")
    assert bad.code == 2 and "is not 3 of narrow, wide, skip" in bad.err


@pytest.mark.slow  # trains a generator
def test_the_library_api_searches_the_space_too(toy_profile, one_thread):
    result = api.search(api.SearchRequest(space="chain3", constraints=Constraints(latency_ms=4.0), samples=200,
                                          train_steps=50))
    assert result.device == "toyboard" and result.candidates
    assert all(LATENCY[c.arch] <= 4.0 for c in result.candidates)
    assert result.model is not None and len(result.model.training.archs) == 27


def test_importing_spaces_and_the_cli_modules_loads_neither_torch_nor_timm():
    code = ("import sys; import hwdiff.spaces, hwdiff.api, hwdiff.search.constraints, hwdiff.search.config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_diffusion_core_knows_no_space():
    code = ("import sys; import hwdiff.diffusion.training, hwdiff.diffusion.pipeline; "
            "print(sorted(m for m in sys.modules if m.startswith(('hwdiff.spaces', 'hwdiff.search', "
            "'hwdiff.hardware', 'hwdiff.generator'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
