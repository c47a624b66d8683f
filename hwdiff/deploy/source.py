"""What ``hwdiff export`` exports: an architecture string, a finetune checkpoint, or the last search's best."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwdiff.deploy.checkpoint import load_checkpoint
from hwdiff.errors import HwdiffError
from hwdiff.search.history import last_best_arch
from hwdiff.spaces import get_space
from hwdiff.storage import user_path

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pth.tar", ".ckpt")


@dataclass
class ModelSource:
    """A network to export, with what it is and where its weights come from."""

    kind: str  # "arch" | "checkpoint" | "last-search"
    space: str
    dataset: str
    arch: str
    num_classes: int
    input_size: tuple[int, int, int]
    weights: str  # "random (seed N)", "ema", "model"
    seed: int = 0
    checkpoint: str | None = None
    classes: list[str] | None = None
    data_config: dict[str, Any] | None = None
    device: str | None = None  # the device the last search targeted
    _state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def stem(self) -> str:
        """A file-name stem that says what this is: ``<space>-<arch hash>-<dataset>`` or ``<run>-<file>``."""
        if self.checkpoint:
            path = Path(self.checkpoint)
            return f"{path.parent.name}-{path.stem}"
        return f"{self.space}-{hashlib.sha256(self.arch.encode()).hexdigest()[:10]}-{self.dataset}"

    def build(self) -> nn.Module:
        """The network in eval mode on the CPU, with its weights."""
        space = get_space(self.space)
        torch.manual_seed(self.seed)
        model = space.create_model(self.arch, self.dataset, num_classes=self.num_classes)
        if self._state_dict is not None:
            try:
                model.load_state_dict(self._state_dict)
            except RuntimeError as exc:
                raise HwdiffError(f"checkpoint {self.checkpoint}: its weights do not fit {self.arch} "
                                  f"({str(exc).splitlines()[0][:160]})") from None
        return model.eval()

    def to_json(self) -> dict[str, Any]:
        doc = {"kind": self.kind, "space": self.space, "dataset": self.dataset, "arch": self.arch,
               "num_classes": self.num_classes, "weights": self.weights, "checkpoint": self.checkpoint,
               "classes": self.classes, "data_config": self.data_config}
        if self.device:
            doc["search_device"] = self.device
        return doc


def resolve_source(source: str | None, space: str | None = None, dataset: str | None = None,
                   seed: int = 0) -> ModelSource:
    """Turn ``hwdiff export``'s SOURCE (or its absence) into a ``ModelSource``."""
    if source is None:
        arch, doc = last_best_arch()
        searched = doc["space"]
        if space is not None and space != searched:
            raise HwdiffError(f"the last search was over space {searched!r}, not {space!r}; give an architecture "
                              "to export another space")
        return _from_arch(arch, searched, doc.get("dataset") if dataset is None else dataset, seed, kind="last-search",
                          device=doc.get("device"))
    space_name = "nb201" if space is None else space  # "" is a name (refused), not the default
    try:
        path = user_path(source, "SOURCE")
    except HwdiffError:  # "" or "~nobody/x": not a file; an architecture string, or refused as one
        return _from_arch(source, space_name, dataset, seed)
    if path.exists() or source.endswith(CHECKPOINT_SUFFIXES):
        return _from_checkpoint(path, space, dataset)
    return _from_arch(source, space_name, dataset, seed)


def _from_arch(arch: str, space: str, dataset: str | None, seed: int, kind: str = "arch",
               device: str | None = None) -> ModelSource:
    sp = get_space(space)
    dataset = sp.dataset_name(dataset)
    info = sp.dataset(dataset)
    return ModelSource(kind=kind, space=space, dataset=dataset, arch=sp.canonical(arch),
                       num_classes=info.num_classes, input_size=tuple(info.input_size),
                       weights=f"random (seed {seed})", seed=seed, device=device)


def _from_checkpoint(path: Path, space: str | None, dataset: str | None) -> ModelSource:
    ckpt = load_checkpoint(path)
    config = ckpt["config"]
    for name, given, saved in (("space", space, config["space"]), ("dataset", dataset, ckpt.get("dataset"))):
        if given is not None and given != saved:
            raise HwdiffError(f"checkpoint {ckpt['path']} is a {name} {saved!r} network; drop --{name} "
                              f"or give {saved!r}")
    use_ema = ckpt.get("ema") is not None
    return ModelSource(kind="checkpoint", space=config["space"], dataset=ckpt["dataset"], arch=config["arch"],
                       num_classes=len(ckpt["classes"]), input_size=tuple(ckpt["input_size"]),
                       weights="ema" if use_ema else "model", checkpoint=ckpt["path"],
                       classes=list(ckpt["classes"]), data_config=ckpt.get("data_config"),
                       _state_dict=ckpt["ema"] if use_ema else ckpt["model"])
