"""``torchrun`` with 2 processes (Gloo on loopback) trains the same network as 1 process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from hwdiff.deploy.checkpoint import load_checkpoint
from hwdiff.deploy.data import make_synthetic_image_folder
from hwdiff.deploy.finetune import finetune

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # starts torchrun
@pytest.mark.usefixtures("one_thread")
def test_two_process_torchrun_matches_one_process(tmp_path, hwdiff_home, cheap_arch):
    """2 ranks x batch 8 against 1 process x batch 8 x 2 accumulation steps: the same micro-batches in the same
    BatchNorm groups and the same mean gradient, so the weights agree up to float summation order. BatchNorm
    running statistics differ by design (DDP broadcasts rank 0's, then ``distribute_bn`` averages)."""
    data = make_synthetic_image_folder(tmp_path / "data", classes=4, per_class=12, val_per_class=3, size=32)
    common = ["--data", str(data), "--epochs", "2", "-b", "8", "--lr", "0.05", "--img-size", "16", "--workers", "0",
              "--no-aug", "--seed", "3"]
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", HWDIFF_HOME=str(hwdiff_home))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "hwdiff", "finetune", cheap_arch,
           *common, "--output", str(tmp_path / "ddp"), "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)  # only rank 0 prints
    assert doc["world_size"] == 2

    single = finetune(dict(arch=cheap_arch, data=str(data), epochs=2, batch_size=8, accum_steps=2, lr=0.05,
                           img_size=16, workers=0, no_aug=True, seed=3), output=tmp_path / "one")
    assert single.world_size == 1
    ddp_ckpt = load_checkpoint(tmp_path / "ddp" / "last.pt")
    one_ckpt = load_checkpoint(tmp_path / "one" / "last.pt")
    assert ddp_ckpt["world_size"] == 2 and len(ddp_ckpt["rng"]) == 2  # every rank's RNG state is kept
    compared = 0
    for name, tensor in one_ckpt["model"].items():
        if name.rsplit(".", 1)[-1] in BN_BUFFERS:
            continue
        torch.testing.assert_close(ddp_ckpt["model"][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
        compared += 1
    assert compared > 10
    for got, want in zip(doc["history"], single.history):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
        assert got["train_top1"] == pytest.approx(want["train_top1"])
    # Validation is sharded over ranks without padding: every val image counted once.
    assert ddp_ckpt["history"][-1]["val_top1"] * 12 / 100 == pytest.approx(round(ddp_ckpt["history"][-1]["val_top1"]
                                                                                 * 12 / 100))
