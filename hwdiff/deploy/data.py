"""Training data for ``hwdiff finetune``: layout checks, timm datasets and transforms, sharded batches.

Two layouts are read, both through ``timm.data.create_dataset``:

* an ImageFolder tree, as ImageNet is usually laid out: ``DIR/train/CLASS/*.jpg`` and optionally
  ``DIR/val/CLASS/*.jpg`` (the same class folders);
* the CIFAR-10/100 "python version" archives as torchvision unpacks them (``DIR/cifar-10-batches-py``
  or ``DIR/cifar-100-python``); their test split serves as validation. These files are pickles:
  unpack only the official archives.

Batches come from ``ShardedBatchSampler`` rather than ``DistributedSampler`` so that one process
with gradient accumulation sees exactly the micro-batches that N processes see (same samples in the
same BatchNorm groups), which is what makes a run's result independent of how it was spread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler

from hwdiff.errors import HwdiffError
from hwdiff.storage import user_path

CIFAR_FOLDERS = {"cifar-10-batches-py": "torch/cifar10", "cifar-100-python": "torch/cifar100"}
VAL_NAMES = ("val", "validation", "valid")


def _image_extensions() -> set[str]:
    from timm.data.readers.img_extensions import get_img_extensions

    return get_img_extensions(as_set=True)


def _class_folders(split_dir: Path) -> dict[str, int]:
    """Class folder name -> number of images in it (recursively), for folders holding images."""
    extensions = _image_extensions()
    counts: dict[str, int] = {}
    for child in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        n = sum(1 for _, _, files in os.walk(child, followlinks=True)
                for f in files if os.path.splitext(f)[1].lower() in extensions)
        if n:
            counts[child.name] = n
    return counts


@dataclass(frozen=True)
class ImageData:
    """A checked training data directory: where its splits are and which classes it has."""

    root: Path
    layout: str  # "imagefolder" | "torch/cifar10" | "torch/cifar100"
    classes: tuple[str, ...]
    train_dir: Path
    val_dir: Path | None
    num_train: int
    num_val: int

    def dataset(self, split: str, transform) -> Dataset:
        """The timm dataset of ``split`` ("train" or "val") with ``transform`` applied."""
        from timm.data import create_dataset

        if self.layout == "imagefolder":
            root = self.train_dir if split == "train" else self.val_dir
            class_map = {c: i for i, c in enumerate(self.classes)}
            ds = create_dataset("", root=str(root), split=split, search_split=False, class_map=class_map)
        else:
            ds = create_dataset(self.layout, root=str(self.root), split="train" if split == "train" else "validation",
                                download=False)
        ds.transform = transform
        return ds


def open_image_data(path: str | os.PathLike) -> ImageData:
    """Check a data directory and say precisely what is wrong with it; nothing is loaded yet."""
    root = user_path(path, "--data")
    expected = "expected an ImageFolder tree DIR/train/CLASS/*.jpg (and DIR/val/CLASS/*.jpg) or a CIFAR " \
               "'cifar-10-batches-py' / 'cifar-100-python' folder"
    if not root.exists():
        raise HwdiffError(f"data directory {root} does not exist; {expected}")
    if not root.is_dir():
        raise HwdiffError(f"data path {root} is not a directory; {expected}")
    for folder, layout in CIFAR_FOLDERS.items():
        if (root / folder).is_dir():
            return _open_cifar(root, layout)
    if not any(root.iterdir()):
        raise HwdiffError(f"data directory {root} is empty; {expected}")
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise HwdiffError(f"data directory {root} has no train/ folder; {expected}")
    train = _class_folders(train_dir)
    if not train:
        raise HwdiffError(f"{train_dir} holds no class folders with images; {expected}")
    if len(train) < 2:
        raise HwdiffError(f"{train_dir} has one class ({next(iter(train))}); classification needs at least 2")
    val_dir = next((root / n for n in VAL_NAMES if (root / n).is_dir()), None)
    val: dict[str, int] = {}
    if val_dir is not None:
        val = _class_folders(val_dir)
        if not val:
            raise HwdiffError(f"{val_dir} holds no class folders with images; give it the classes of train/ "
                              "or remove it to train without validation")
        if set(val) != set(train):
            only_train = sorted(set(train) - set(val))
            only_val = sorted(set(val) - set(train))
            parts = [f"only in train/: {', '.join(only_train[:5])}" if only_train else "",
                     f"only in {val_dir.name}/: {', '.join(only_val[:5])}" if only_val else ""]
            raise HwdiffError(f"classes differ between train/ and {val_dir.name}/ in {root} "
                              f"({'; '.join(p for p in parts if p)}); both need the same class folders")
    return ImageData(root=root, layout="imagefolder", classes=tuple(sorted(train)), train_dir=train_dir,
                     val_dir=val_dir, num_train=sum(train.values()), num_val=sum(val.values()))


def _open_cifar(root: Path, layout: str) -> ImageData:
    from timm.data import create_dataset

    try:
        train = create_dataset(layout, root=str(root), split="train", download=False)
        val = create_dataset(layout, root=str(root), split="validation", download=False)
    except (RuntimeError, OSError, EOFError, ValueError, KeyError) as exc:
        raise HwdiffError(f"CIFAR data in {root} is incomplete or corrupt ({exc}); unpack the official "
                          "python-version archive there") from None
    return ImageData(root=root, layout=layout, classes=tuple(train.classes), train_dir=root, val_dir=root,
                     num_train=len(train), num_val=len(val))


class ShardedBatchSampler(Sampler[list[int]]):
    """Micro-batches of one rank, cut from a per-epoch permutation of the whole training set.

    Each optimiser step consumes a global batch of ``world_size * accum_steps * batch_size`` samples;
    rank ``r``'s ``j``-th micro-batch of it is chunk ``r * accum_steps + j``. The permutation depends
    only on ``(seed, epoch)``, so a resumed run and a run on another number of processes (with the
    same global batch) see the same data. Incomplete global batches are dropped.
    """

    def __init__(self, num_samples: int, batch_size: int, *, world_size: int = 1, rank: int = 0,
                 accum_steps: int = 1, seed: int = 0):
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.accum_steps = accum_steps
        self.seed = seed
        self.epoch = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size * self.accum_steps

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch."""
        return self.num_samples // self.global_batch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps_per_epoch * self.accum_steps

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.num_samples, generator=generator).tolist()
        for step in range(self.steps_per_epoch):
            base = step * self.global_batch
            for j in range(self.accum_steps):
                start = base + (self.rank * self.accum_steps + j) * self.batch_size
                yield perm[start:start + self.batch_size]


def shard_indices(num_samples: int, world_size: int, rank: int) -> list[int]:
    """Rank ``rank``'s share of an evaluation set: every sample exactly once over all ranks (no padding)."""
    return list(range(rank, num_samples, world_size))



def make_synthetic_image_folder(root: Path, classes: int = 10, per_class: int = 20, val_per_class: int = 5,
                                size: int = 64, seed: int = 0) -> Path:
    """An ImageFolder tree of PNGs for smoke tests, benchmarks and the GPU check (nothing to download).

    Each class is a mean colour plus Gaussian noise, so a network can learn it in a few steps.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        colour = rng.integers(30, 225, size=3)
        for split, n in (("train", per_class), ("val", val_per_class)):
            for i in range(n):
                folder = root / split / f"class{c:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                pixels = np.clip(colour + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root
