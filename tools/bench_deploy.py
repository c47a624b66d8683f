"""Deploy benchmarks: the figures of docs/performance.md ("Deploy"), and the GPU check.

    python -m tools.bench_deploy cpu [--archs 6] [--threads 1] [--out FILE.json]
    python -m tools.bench_deploy finetune [--threads 1] [--out FILE.json]
    python -m tools.bench_deploy gpu [--out DIR]

``cpu``: for NB201 cells (and ``effnet`` networks where that space is installed) export ONNX fp32 at
batch 1, record the parity against PyTorch, and time ONNX Runtime (the exported file) against
PyTorch eager (the module) with the profiling timer, same thread count.

``finetune``: the CPU finetune targets on a generated 10-class ImageFolder: the loss curve, a run
interrupted mid-epoch and resumed against the uninterrupted one, and ``torchrun`` with 2 Gloo
processes against 1 process (same global batch, with and without the matching accumulation).

``gpu``: finetune a generated ImageFolder for a few steps with AMP and channels_last, export ONNX
and, where TensorRT is installed, an FP16 engine, and record training and inference throughput.
Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwdiff.deploy.bench import make_runner, open_exported
from hwdiff.deploy.data import make_synthetic_image_folder
from hwdiff.deploy.export import ExportOptions, export
from hwdiff.deploy.source import resolve_source
from hwdiff.errors import HwdiffError
from hwdiff.hardware.backends import BackendOptions, create_backend
from hwdiff.hardware.timing import TimingSettings, measure_latency
from hwdiff.hardware.trt_engine import find_tensorrt
from hwdiff.spaces import get_space, space_names


def _archs(count: int) -> list[tuple[str, str]]:
    """(space, arch): NB201's all-3x3 cell (its heaviest) plus random cells; effnet samples if present."""
    out = [("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")]
    rng = np.random.default_rng(0)
    out += [("nb201", a) for a in get_space("nb201").random_archs(count - 1, rng)]
    if "effnet" in space_names():
        out += [("effnet", a) for a in get_space("effnet").random_archs(2, rng)]
    return out


def run_cpu(count: int, threads: int, folder: Path) -> list[dict[str, Any]]:
    rows = []
    settings = TimingSettings(max_time_s=5.0)
    for space, arch in _archs(count):
        source = resolve_source(arch, space)
        result = export(source, ExportOptions(output=folder / f"{source.stem}.onnx"))
        ort_ms = measure_latency(make_runner(open_exported(result.path), "onnxruntime", "cpu", threads), settings)
        backend = create_backend("pytorch", BackendOptions(target="cpu", threads=threads))
        eager_ms = measure_latency(backend.prepare(source.build(), source.input_size), settings)
        parity = result.doc["parity"]
        rows.append({"space": space, "arch": arch, "input": list(source.input_size),
                     "max_abs_error": parity["max_abs_error"], "max_rel_error": parity["max_rel_error"],
                     "onnxruntime_ms": ort_ms.median_ms, "onnxruntime_iqr_ms": ort_ms.iqr_ms,
                     "pytorch_eager_ms": eager_ms.median_ms, "pytorch_eager_iqr_ms": eager_ms.iqr_ms,
                     "threads": threads})
        print(f"| {space} | `{arch[:60]}` | {parity['max_abs_error']:.2e} | {ort_ms.median_ms:.3f} | "
              f"{eager_ms.median_ms:.3f} | {eager_ms.median_ms / ort_ms.median_ms:.2f}x |", flush=True)
    return rows


CHEAP_NB201 = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"


class _StopAt:
    """Interrupts training at (epoch, step) as Ctrl-C would."""

    def __init__(self, epoch: int, step: int):
        self.at, self.epoch = (epoch, step), -1

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epoch = epoch

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        if (self.epoch, step) == self.at:
            raise KeyboardInterrupt

    def epoch_end(self, row: dict[str, Any]) -> None:
        pass


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], params_only: bool = False) -> float:
    skip = ("running_mean", "running_var", "num_batches_tracked") if params_only else ()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if not k.endswith(skip))


def run_finetune_cpu(folder: Path) -> dict[str, Any]:
    """The finetune targets on CPU: loss falls, resume == uninterrupted, 2-process torchrun == 1 process."""
    import os
    import socket
    import subprocess
    import sys

    from hwdiff.deploy.checkpoint import load_checkpoint
    from hwdiff.deploy.finetune import finetune

    data = make_synthetic_image_folder(folder / "data")  # 10 classes x 20 (+5 val) images of 64x64
    base = dict(arch=CHEAP_NB201, data=str(data), epochs=10, batch_size=32, lr=0.05, img_size=16, workers=0,
                warmup_epochs=1, auto_augment="rand-m9-mstd0.5", ema=True, ema_decay=0.9, seed=7)
    straight = finetune(base, output=folder / "straight")
    try:
        finetune(base, output=folder / "interrupted", progress=_StopAt(epoch=2, step=3))
    except KeyboardInterrupt:
        pass
    finetune({"arch": CHEAP_NB201}, output=folder / "interrupted", resume=True)
    a, b = (load_checkpoint(folder / name / "last.pt") for name in ("straight", "interrupted"))
    out: dict[str, Any] = {
        "train_loss": [r["train_loss"] for r in straight.history],
        "val_top1": [r["val_top1"] for r in straight.history],
        "resume_max_abs_diff": {"model": _max_diff(a["model"], b["model"]), "ema": _max_diff(a["ema"], b["ema"])},
    }
    ddp = dict(arch=CHEAP_NB201, data=str(data), epochs=2, batch_size=16, lr=0.05, img_size=16, workers=0,
               no_aug=True, seed=3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", "-m", "hwdiff", "finetune", CHEAP_NB201, "--data", str(data), "--epochs", "2",
           "-b", "16", "--lr", "0.05", "--img-size", "16", "--workers", "0", "--no-aug", "--seed", "3",
           "--output", str(folder / "ddp"), "--json"]
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    finetune(ddp | {"accum_steps": 2}, output=folder / "accum")
    finetune(ddp | {"batch_size": 32}, output=folder / "batch32")
    two, accum, big = (load_checkpoint(folder / n / "last.pt") for n in ("ddp", "accum", "batch32"))
    out["ddp"] = {
        "params_max_abs_diff_vs_1proc_accum2": _max_diff(two["model"], accum["model"], params_only=True),
        "params_max_abs_diff_vs_1proc_batch32": _max_diff(two["model"], big["model"], params_only=True),
        "train_loss_2proc": [r["train_loss"] for r in two["history"]],
        "train_loss_1proc_accum2": [r["train_loss"] for r in accum["history"]],
        "val_top1_2proc": [r["val_top1"] for r in two["history"]],
        "val_top1_1proc_accum2": [r["val_top1"] for r in accum["history"]],
    }
    return out


def run_gpu(folder: Path) -> dict[str, Any]:
    from hwdiff.deploy.finetune import finetune

    if not torch.cuda.is_available():
        raise HwdiffError("the GPU check needs a CUDA GPU; PyTorch sees none here")
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    data = make_synthetic_image_folder(folder / "data", classes=10, per_class=256, val_per_class=64, size=32)
    run = finetune(dict(arch=arch, data=str(data), epochs=2, batch_size=128, lr=0.1, amp=True, channels_last=True,
                        workers=4), output=folder / "run", device="cuda")
    out: dict[str, Any] = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "finetune": {"history": run.history, "amp": "float16 + GradScaler"}}
    source = resolve_source(str(run.best_checkpoint))
    onnx_file = export(source, ExportOptions(output=folder / "net.onnx")).path
    out["onnx_parity"] = json.loads((folder / "net.onnx.json").read_text())["parity"]
    settings = TimingSettings()
    backend = create_backend("pytorch", BackendOptions(target="cuda", precision="fp16", batch_size=256))
    eager = measure_latency(backend.prepare(source.build(), source.input_size), settings)
    out["pytorch_fp16_b256"] = {"ms": eager.median_ms, "images_per_s": 256e3 / eager.median_ms}
    exported = open_exported(onnx_file)
    try:
        ort_ms = measure_latency(make_runner(exported, "onnxruntime", "cuda", 1), settings)
        out["onnxruntime_cuda_b1_ms"] = ort_ms.median_ms
    except HwdiffError as exc:
        out["onnxruntime_cuda"] = str(exc)
    tensorrt = find_tensorrt()
    out["tensorrt"] = tensorrt.version if tensorrt else None
    if tensorrt is not None:
        for batch in (1, 256):
            engine = export(source, ExportOptions(format="trt", precision="fp16", batch=batch,
                                                  output=folder / f"net-b{batch}.engine")).path
            m = measure_latency(make_runner(open_exported(engine), "tensorrt", "cuda", 1), settings)
            out[f"tensorrt_fp16_b{batch}"] = {"ms": m.median_ms, "images_per_s": batch * 1e3 / m.median_ms}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cpu", "finetune", "gpu"))
    parser.add_argument("--archs", type=int, default=6, help="NB201 cells to measure (cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both runtimes (cpu)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (cpu) or directory (gpu)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode == "cpu":
            print("| space | arch | ONNX max abs err | ONNX Runtime ms | PyTorch eager ms | eager / ORT |")
            print("|---|---|---|---|---|---|")
            doc: Any = run_cpu(args.archs, args.threads, Path(tmp))
        elif args.mode == "finetune":
            torch.set_num_threads(args.threads)
            doc = run_finetune_cpu(Path(tmp))
            print(json.dumps(doc, indent=2))
        else:
            if args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
            doc = run_gpu(args.out or Path(tmp))
            print(json.dumps(doc, indent=2))
    if args.out is not None:
        target = args.out / "gpu_check.json" if args.mode == "gpu" else args.out
        target.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
