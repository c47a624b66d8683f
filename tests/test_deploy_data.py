"""Training data for finetune: a generated ImageFolder, layout checks, and the sharded batch sampler."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hwdiff.deploy.data import ShardedBatchSampler, make_synthetic_image_folder, open_image_data, shard_indices
from hwdiff.errors import HwdiffError


# A cheap NB201 cell (one 1x1 conv per cell) keeps CPU training in the tests to seconds.
def test_open_image_data_reads_classes_and_counts(tmp_path):
    data = open_image_data(make_synthetic_image_folder(tmp_path / "d", classes=3, per_class=4, val_per_class=2, size=8))
    assert data.layout == "imagefolder"
    assert data.classes == ("class00", "class01", "class02")
    assert (data.num_train, data.num_val) == (12, 6)
    ds = data.dataset("val", None)
    assert len(ds) == 6 and sorted({ds[i][1] for i in range(6)}) == [0, 1, 2]


def test_no_val_folder_is_accepted(tmp_path):
    data = open_image_data(make_synthetic_image_folder(tmp_path / "d", classes=2, per_class=2, val_per_class=0, size=8))
    assert data.val_dir is None and data.num_val == 0


def _bad_layouts(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    no_train = tmp_path / "no_train"
    (no_train / "val" / "a").mkdir(parents=True)
    no_images = tmp_path / "no_images"
    (no_images / "train" / "a").mkdir(parents=True)
    one_class = make_synthetic_image_folder(tmp_path / "one", classes=1, per_class=2, val_per_class=0, size=8)
    differ = make_synthetic_image_folder(tmp_path / "differ", classes=3, per_class=2, val_per_class=1, size=8)
    (differ / "val" / "class02").rename(differ / "val" / "zebra")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cifar = tmp_path / "cifar"
    (cifar / "cifar-10-batches-py").mkdir(parents=True)
    return {
        "missing": (tmp_path / "nowhere", "does not exist"),
        "not a directory": (a_file, "is not a directory"),
        "empty": (empty, "is empty"),
        "no train": (no_train, "has no train/ folder"),
        "no images": (no_images, "holds no class folders with images"),
        "one class": (one_class, "needs at least 2"),
        "classes differ": (differ, "classes differ between train/ and val/"),
        "broken cifar": (cifar, "CIFAR data in"),
    }


@pytest.mark.parametrize("case", ["missing", "not a directory", "empty", "no train", "no images", "one class",
                                  "classes differ", "broken cifar"])
def test_bad_data_directories_are_named(tmp_path, case):
    path, message = _bad_layouts(tmp_path)[case]
    with pytest.raises(HwdiffError, match=message):
        open_image_data(path)


def test_bad_data_directory_is_one_cli_line(tmp_path, cli, cheap_arch):
    path, _ = _bad_layouts(tmp_path)["classes differ"]
    result = cli("finetune", cheap_arch, "--data", str(path), "--output", str(tmp_path / "run"))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: classes differ") and "zebra" in lines[0]
    assert not (tmp_path / "run").exists()


def test_sharded_sampler_matches_across_process_counts():
    """1 process x 2 accumulation steps sees the micro-batches that 2 processes x 1 step see."""
    one = list(ShardedBatchSampler(50, 4, world_size=1, rank=0, accum_steps=2, seed=3))
    two = [list(ShardedBatchSampler(50, 4, world_size=2, rank=r, accum_steps=1, seed=3)) for r in (0, 1)]
    assert len(one) == 12 and all(len(b) == 4 for b in one)  # 50 // 8 = 6 steps, 2 micro-batches each
    interleaved = [batch for pair in zip(two[0], two[1]) for batch in pair]
    assert interleaved == one
    flat = [i for b in one for i in b]
    assert len(set(flat)) == 48  # each sample at most once per epoch


def test_sharded_sampler_depends_on_seed_and_epoch_only():
    a = ShardedBatchSampler(30, 5, seed=1)
    b = ShardedBatchSampler(30, 5, seed=1)
    first = list(a)
    torch.manual_seed(123)  # the global RNG does not matter
    assert list(b) == first
    a.set_epoch(1)
    assert list(a) != first
    assert shard_indices(7, 2, 0) + shard_indices(7, 2, 1) == [0, 2, 4, 6, 1, 3, 5]
