"""Maintainer command: train the shipped shared generators (``hwdiff/generator/shared.py``).

    python -m tools.train_shared_generator [--space nb201] [--dataset cifar10 ...] [--steps N] [--seed 0]
                                           [--exclude-device NAME ... --out DIR]

Sources: every shipped profile of the space (nb201: the 24 HELP / HW-NAS-Bench tables; effnet: the 6
Accel-NASBench devices), plus synthetic devices drawn from the shipped few-shot latency model's prior.
Writes ``hwdiff/data/generators/<space>-<dataset>/``. With ``--exclude-device`` (leave-one-device-out,
for ``tools.bench_shared_generator``) the transfer latency model is refitted without those devices too,
and both go to ``--out DIR/<space>-<dataset>/`` (``latency_transfer.npz`` beside the model).
Run with a fixed thread count (``OMP_NUM_THREADS=2``): about 9 minutes per nb201 generator on the two idle
cores of the project's Xeon VM, several times that beside other work.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from hwdiff.generator.shared import SHARED_TRAIN, device_latencies, shared_path, train_shared
from hwdiff.generator.store import save_model_dir
from hwdiff.hardware.transfer import TransferModel, fit_transfer_model, load_transfer_model
from hwdiff.spaces import get_space
from tools.fit_latency_transfer import shipped_sources

TRANSFER_FILE = "latency_transfer.npz"


def transfer_without(space: str, exclude: list[str]) -> TransferModel:
    if not exclude:
        return load_transfer_model(space)
    sources = {d: v for d, v in shipped_sources(space).items() if d not in exclude}
    return fit_transfer_model(space, sources)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.train_shared_generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--dataset", action="append", help="Default: every dataset of the space.")
    parser.add_argument("--steps", type=int, default=SHARED_TRAIN.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-device", action="append", default=[])
    parser.add_argument("--out", type=Path, help="Required with --exclude-device.")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.exclude_device and args.out is None:
        parser.error("--exclude-device writes a benchmark model: give --out DIR")
    space = get_space(args.space)
    transfer = transfer_without(args.space, args.exclude_device)
    sources = device_latencies(args.space, exclude=args.exclude_device)
    for dataset in args.dataset or space.datasets:
        folder = shared_path(args.space, dataset) if args.out is None else args.out / f"{args.space}-{dataset}"

        def progress(step: int, total: int, loss: float, name: str = dataset) -> None:
            if step % 1000 == 0 or step == total:
                print(f"  {name}: step {step}/{total} loss {loss:.4f}", flush=True)

        generator, meta = train_shared(args.space, dataset, transfer, sources,
                                       train=replace(SHARED_TRAIN, steps=args.steps), seed=args.seed,
                                       progress=progress)
        save_model_dir(folder, generator, {**meta, "excluded_devices": args.exclude_device})
        if args.exclude_device:
            transfer.save(folder / TRANSFER_FILE)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1024
        print(f"{args.space}/{dataset}: {len(sources)} source devices, {meta['synthetic_devices']} synthetic, "
              f"{meta['train_seconds']:.0f} s -> {folder} ({size:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
