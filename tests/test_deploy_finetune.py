"""Finetune on a tiny generated ImageFolder on CPU: learning, checkpoints, exact resume, bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from hwdiff.deploy.checkpoint import load_checkpoint
from hwdiff.deploy.data import make_synthetic_image_folder
from hwdiff.deploy.finetune import finetune

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """10 classes x 20 train images (and 5 val) of 64x64, as the issue asks."""
    return make_synthetic_image_folder(tmp_path_factory.mktemp("data") / "imgs")


def settings(data_dir, arch, **extra):
    base = dict(arch=arch, data=str(data_dir), epochs=3, batch_size=32, lr=0.05, img_size=16, workers=0,
                warmup_epochs=0)
    return base | extra


def test_finetune_cli_learns_and_writes_run(cli, data_dir, tmp_path, cheap_arch):
    run = tmp_path / "run"
    result = cli("finetune", cheap_arch, "--data", str(data_dir), "--epochs", "4", "-b", "32", "--lr", "0.05",
                 "--img-size", "16", "--workers", "0", "--warmup-epochs", "0", "--output", str(run), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    losses = [row["train_loss"] for row in doc["history"]]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.2  # the network learns
    with open(run / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["train_loss"]) == pytest.approx(losses[-1])
    assert {"val_top1", "val_top5", "lr", "images_per_s"} <= set(rows[0])
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 4 and ckpt["classes"] == [f"class{c:02d}" for c in range(10)]
    assert {"optimizer", "scheduler", "rng", "history", "best"} <= set(ckpt)
    assert ckpt["config"]["arch"] == cheap_arch and ckpt["input_size"] == [3, 16, 16]
    best = load_checkpoint(run / "best.pt")
    assert best["epoch"] == doc["best_epoch"]
    assert doc["best_metric"] == "val_top1"


def test_training_options_run_together(data_dir, tmp_path, cheap_arch):
    """bf16 autocast on CPU, channels_last, mixup + cutmix, random erasing, clipping, accumulation, no val."""
    run = finetune(settings(data_dir, cheap_arch, epochs=2, batch_size=16, accum_steps=2, amp=True, channels_last=True,
                            mixup=0.2, cutmix=1.0, reprob=0.25, clip_grad=1.0, opt="adamw", lr=1e-3),
                   output=tmp_path / "run")
    assert all(0 < row["train_loss"] < 10 for row in run.history)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["config"]["amp"] and ckpt["optimizer"]["state"]  # adamw moments were stored
    assert ckpt["num_updates"] == 2 * (200 // 32)


class StopAt:
    """A progress reporter that interrupts training at one step, as Ctrl-C would."""

    def __init__(self, epoch: int, step: int):
        self.at, self.epoch = (epoch, step), None

    def epoch_start(self, epoch, epochs, steps):
        self.epoch = epoch

    def step(self, step, loss, top1, images_per_s):
        if (self.epoch, step) == self.at:
            raise KeyboardInterrupt

    def epoch_end(self, row):
        pass


def test_resume_after_interruption_equals_uninterrupted_run(data_dir, tmp_path, cheap_arch):
    """Augmentation (RandAugment, crops, flips), EMA and the scheduler all continue exactly."""
    extra = dict(auto_augment="rand-m9-mstd0.5", ema=True, ema_decay=0.9, warmup_epochs=1, seed=7)
    straight = finetune(settings(data_dir, cheap_arch, **extra), output=tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        finetune(settings(data_dir, cheap_arch, **extra), output=tmp_path / "b", progress=StopAt(epoch=1, step=3))
    interrupted = load_checkpoint(tmp_path / "b" / "last.pt")  # intact, at the last finished epoch
    assert interrupted["epoch"] == 1
    resumed = finetune({"arch": cheap_arch}, output=tmp_path / "b", resume=True)
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    assert [r["ema_val_top1"] for r in resumed.history] == [r["ema_val_top1"] for r in straight.history]
    with open(tmp_path / "b" / "summary.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]


def test_interrupt_on_the_command_line_says_how_to_resume(cli, data_dir, tmp_path, monkeypatch, cheap_arch):
    import importlib

    cli_finetune = importlib.import_module("hwdiff.cli.finetune")  # the package attribute is the command

    def interrupt(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_finetune._RichProgress, "step", interrupt)
    run = tmp_path / "run"
    result = cli("finetune", cheap_arch, "--data", str(data_dir), "--epochs", "2", "-b", "32", "--img-size", "16",
                 "--workers", "0", "--output", str(run))
    assert result.code == 130
    assert f"--output {run} --resume" in result.err and "Traceback" not in result.err
    assert not (run / "last.pt").exists()  # stopped in the first epoch: nothing half-written
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_run_directory_rules(cli, data_dir, tmp_path, cheap_arch):
    run = tmp_path / "run"
    common = ("--data", str(data_dir), "--epochs", "1", "-b", "64", "--img-size", "16", "--workers", "0",
              "--output", str(run))
    nothing = cli("finetune", cheap_arch, *common, "--resume")
    assert nothing.code == 2 and "nothing to resume" in nothing.err
    assert cli("finetune", cheap_arch, *common).code == 0
    again = cli("finetune", cheap_arch, *common)
    assert again.code == 2 and "already holds a run" in again.err and "--resume" in again.err
    changed = cli("finetune", *common, "--resume", "--lr", "0.5")
    assert changed.code == 2 and "--lr 0.5 differs from the run's saved 0.1" in changed.err
    done = cli("finetune", *common, "--resume", "--json")  # already finished: resumes to nothing, succeeds
    assert done.code == 0 and len(json.loads(done.out)["history"]) == 1


def test_finetune_rejects_bad_settings(cli, data_dir, tmp_path, cheap_arch, read_only_dir):
    cases = [
        (("--epochs", "0"), "--epochs must be at least 1"),
        (("-b", "300"), "fewer than one global batch"),
        (("--mixup", "0.2", "-b", "7"), "even --batch-size"),
        (("--opt", "nonsense"), "--opt 'nonsense'"),
        (("--amp-dtype", "int8"), "--amp-dtype 'int8'"),
    ]
    for args, message in cases:
        result = cli("finetune", cheap_arch, "--data", str(data_dir), "--img-size", "16", "--workers", "0",
                     "--output", str(tmp_path / "r"), *args)
        assert result.code == 2 and message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1
    result = cli("finetune", cheap_arch, "--data", str(data_dir), "--output", str(read_only_dir / "run"))
    assert result.code == 2 and ("cannot create" in result.err or "not writable" in result.err)
    assert cli("finetune", "--data", str(data_dir)).code == 2  # no ARCH
