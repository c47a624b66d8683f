"""``hwdiff finetune``: train an architecture of any space on an image folder with timm's building blocks.

timm supplies the pieces (datasets and transforms with RandAugment / random erasing, ``Mixup``,
``create_optimizer_v2``, ``create_scheduler_v2`` with warm-up then cosine, its losses,
``ModelEmaV3``, ``distribute_bn``); this module wires them into one loop that also runs under
``torchrun`` (DistributedDataParallel: NCCL on GPUs, Gloo on CPU; metrics reduced over ranks; only
rank 0 writes). After every epoch rank 0 writes ``last.pt`` (and ``best.pt`` when validation
improved) atomically, then rewrites ``summary.csv`` from the history inside the checkpoint, so the two
never disagree. ``resume`` restores weights, optimiser, scheduler, EMA, grad scaler and every rank's
RNG state: the continued run is the run that was never stopped (exactly so on CPU).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from hwdiff import __version__
from hwdiff.deploy.checkpoint import (
    capture_rng_state,
    copy_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from hwdiff.deploy.data import ImageData, ShardedBatchSampler, open_image_data, shard_indices
from hwdiff.deploy.distributed import DistContext
from hwdiff.deploy.finetune_config import FinetuneConfig
from hwdiff.errors import HwdiffError
from hwdiff.spaces import get_space
from hwdiff.storage import atomic_write_text, check_writable_dir, user_dir

SUMMARY_COLUMNS = ("epoch", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "ema_val_loss",
                   "ema_val_top1", "ema_val_top5", "lr", "images_per_s", "epoch_s")
# Settings that may differ when a run is resumed: where the data lives and how many loader workers read it
# do not change what the network sees (worker seeds derive from the restored RNG state).
RESUMABLE_CHANGES = ("data",)


class FinetuneProgress(Protocol):
    """What the primary process reports while it trains (the CLI draws a rich progress bar)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None: ...

    def epoch_end(self, row: dict[str, Any]) -> None: ...


class _Silent:
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict[str, Any]) -> None:
        pass


@dataclass
class FinetuneResult:
    run_dir: Path
    config: FinetuneConfig
    classes: tuple[str, ...]
    history: list[dict[str, Any]]
    best: dict[str, Any]
    world_size: int
    rank: int

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.run_dir / "best.pt"


def default_run_dir(arch: str, space: str = "nb201", seed: int = 0) -> Path:
    """``$HWDIFF_HOME/runs/<space>-<arch hash>-s<seed>``: the same command finds its run again for --resume."""
    digest = hashlib.sha256(get_space(space).canonical(arch).encode()).hexdigest()[:10]
    return user_dir("runs") / f"{space}-{digest}-s{seed}"


def resolve_config(settings: dict[str, Any], run_dir: Path, resume: bool) -> tuple[FinetuneConfig, dict | None]:
    """The run's settings and, when resuming, its last checkpoint.

    ``settings`` holds only what the user gave. A fresh run fills the rest with defaults; a resumed
    run takes its saved settings and refuses a given one that differs (it would not be the same run).
    """
    last = run_dir / "last.pt"
    if not resume:
        if last.exists():
            raise HwdiffError(f"{run_dir} already holds a run (last.pt); pass --resume to continue it, "
                              "or choose another --output")
        missing = [k for k in ("arch", "data") if settings.get(k) is None]
        if missing:
            raise HwdiffError(f"finetune needs {' and '.join('ARCH' if k == 'arch' else '--data' for k in missing)}")
        config = FinetuneConfig(**{k: v for k, v in settings.items() if v is not None})
        config.arch = get_space(config.space).canonical(config.arch)
        config.validate()
        return config, None
    if not last.exists():
        raise HwdiffError(f"nothing to resume: {last} does not exist (start the run without --resume)")
    ckpt = load_checkpoint(last)
    saved = dict(ckpt["config"])
    for key, value in settings.items():
        if value is None or key in RESUMABLE_CHANGES:
            continue
        if key == "arch":
            value = get_space(saved["space"]).canonical(value)
        if saved.get(key) != value:
            raise HwdiffError(f"--{key.replace('_', '-')} {value!r} differs from the run's saved "
                              f"{saved.get(key)!r}; a resumed run keeps its settings (start a new --output instead)")
    if settings.get("data") is not None:
        saved["data"] = settings["data"]
    return FinetuneConfig(**saved), ckpt


def _write_summary(path: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in SUMMARY_COLUMNS})
    atomic_write_text(path, buffer.getvalue())


def _amp_dtype(config: FinetuneConfig, device: torch.device) -> torch.dtype | None:
    if not config.amp:
        return None
    if config.amp_dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    return getattr(torch, config.amp_dtype)


def _topk_correct(logits: torch.Tensor, target: torch.Tensor, k: int) -> int:
    k = min(k, logits.shape[1])
    return int((logits.topk(k, dim=1).indices == target[:, None]).any(dim=1).sum())


class _Trainer:
    """One run's objects, built identically for a fresh and for a resumed run."""

    def __init__(self, config: FinetuneConfig, data: ImageData, ctx: DistContext):
        from timm.data import Mixup, create_transform, resolve_data_config
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2
        from timm.utils import ModelEmaV3

        self.config, self.data, self.ctx = config, data, ctx
        space = get_space(config.space)
        self.dataset_tag = config.dataset or next(iter(space.datasets))
        info = space.dataset(self.dataset_tag)
        size = config.img_size or info.input_size[1]
        self.input_size = (3, size, size)
        device = ctx.device

        torch.manual_seed(config.seed)  # same initial weights on every rank and in every run with this seed
        model = space.create_model(config.arch, self.dataset_tag, num_classes=len(data.classes),
                                   drop_rate=config.drop_rate)
        data_cfg = resolve_data_config(model=model)
        if config.sync_bn and ctx.distributed:
            if device.type != "cuda":
                raise HwdiffError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm runs on GPUs only); drop it on CPU")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model.to(device)
        if config.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.ema = ModelEmaV3(model, decay=config.ema_decay) if config.ema else None

        common = dict(input_size=self.input_size, interpolation=data_cfg["interpolation"], mean=data_cfg["mean"],
                      std=data_cfg["std"], crop_pct=data_cfg["crop_pct"])
        train_tf = create_transform(is_training=True, no_aug=config.no_aug, scale=(config.crop_scale, 1.0),
                                    auto_augment=config.auto_augment, re_prob=config.reprob, **common)
        eval_tf = create_transform(is_training=False, **common)
        self.data_config = {k: list(v) if isinstance(v, tuple) else v for k, v in common.items()}
        train_ds = data.dataset("train", train_tf)
        self.sampler = ShardedBatchSampler(len(train_ds), config.batch_size, world_size=ctx.world_size,
                                           rank=ctx.rank, accum_steps=config.accum_steps, seed=config.seed)
        if self.sampler.steps_per_epoch == 0:
            raise HwdiffError(f"the training set has {len(train_ds)} images, fewer than one global batch "
                              f"({ctx.world_size} process(es) x {config.accum_steps} accumulation step(s) x "
                              f"--batch-size {config.batch_size}); lower --batch-size")
        pin = device.type == "cuda"
        self.train_loader = DataLoader(train_ds, batch_sampler=self.sampler, num_workers=config.workers,
                                       pin_memory=pin)
        self.val_loader = None
        if data.val_dir is not None:
            val_ds = data.dataset("val", eval_tf)
            self.val_loader = DataLoader(Subset(val_ds, shard_indices(len(val_ds), ctx.world_size, ctx.rank)),
                                         batch_size=config.batch_size, num_workers=config.workers, pin_memory=pin)

        try:
            self.optimizer = create_optimizer_v2(model, opt=config.opt, lr=config.lr,
                                                 weight_decay=config.weight_decay, momentum=config.momentum)
        except (AssertionError, ValueError) as exc:
            raise HwdiffError(f"--opt {config.opt!r}: {exc}; e.g. sgd, momentum, adamw, rmsproptf, lamb") from None
        try:
            self.scheduler, _ = create_scheduler_v2(
                self.optimizer, sched=config.sched, num_epochs=config.epochs, warmup_epochs=config.warmup_epochs,
                warmup_lr=config.warmup_lr, min_lr=config.min_lr, step_on_epochs=False,
                updates_per_epoch=self.sampler.steps_per_epoch)
        except (AssertionError, ValueError) as exc:
            raise HwdiffError(f"--sched {config.sched!r}: {exc}; e.g. cosine, step, tanh, poly") from None
        if self.scheduler is None:
            raise HwdiffError(f"--sched {config.sched!r} is not a scheduler; e.g. cosine, step, tanh, poly")
        self.amp_dtype = _amp_dtype(config, device)
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None
        mixing = config.mixup > 0 or config.cutmix > 0
        self.mixup = Mixup(mixup_alpha=config.mixup, cutmix_alpha=config.cutmix, label_smoothing=config.smoothing,
                           num_classes=len(data.classes)) if mixing else None
        if mixing:
            self.train_loss: nn.Module = SoftTargetCrossEntropy()
        elif config.smoothing > 0:
            self.train_loss = LabelSmoothingCrossEntropy(smoothing=config.smoothing)
        else:
            self.train_loss = nn.CrossEntropyLoss()
        self.eval_loss = nn.CrossEntropyLoss(reduction="sum")

        self.train_model: nn.Module = model
        if ctx.distributed:
            ids = [device.index] if device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if config.compile:
            self.train_model = torch.compile(self.train_model)
        self.num_updates = 0

    # -- state ---------------------------------------------------------------------------------------------
    def state(self, epoch: int, history: list[dict], best: dict, rng: list[dict]) -> dict[str, Any]:
        return {
            "hwdiff_version": __version__, "torch_version": str(torch.__version__),
            "epoch": epoch, "num_updates": self.num_updates, "world_size": self.ctx.world_size,
            "config": dataclasses.asdict(self.config), "classes": list(self.data.classes),
            "dataset": self.dataset_tag, "input_size": list(self.input_size), "data_config": self.data_config,
            "model": self.model.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng, "history": history, "best": best,
        }

    def load(self, ckpt: dict[str, Any]) -> None:
        if list(ckpt["classes"]) != list(self.data.classes):
            raise HwdiffError(f"the data's classes ({len(self.data.classes)}) differ from the run's "
                              f"({len(ckpt['classes'])}); resume with the data the run was started on")
        if ckpt["world_size"] != self.ctx.world_size:
            raise HwdiffError(f"this run was trained on {ckpt['world_size']} process(es); resume it on as many "
                              f"(torchrun --nproc_per_node={ckpt['world_size']}), not {self.ctx.world_size}")
        try:
            self.model.load_state_dict(ckpt["model"])
            if self.ema is not None:
                self.ema.module.load_state_dict(ckpt["ema"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            if self.scaler is not None:
                self.scaler.load_state_dict(ckpt["scaler"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise HwdiffError(f"checkpoint {ckpt['path']} does not fit this run ({str(exc).splitlines()[0][:160]})") \
                from None
        self.num_updates = int(ckpt["num_updates"])
        restore_rng_state(ckpt["rng"][self.ctx.rank])

    # -- loops ---------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.ctx.device, non_blocking=True)
        y = y.to(self.ctx.device, non_blocking=True)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def train_epoch(self, epoch: int, progress: FinetuneProgress) -> dict[str, float]:
        config, ctx = self.config, self.ctx
        self.train_model.train()
        self.sampler.set_epoch(epoch)
        accum = config.accum_steps
        loss_sum = correct = seen = 0.0
        start = time.perf_counter()
        for micro, (x, y) in enumerate(self.train_loader):
            x, y = self._to_device(x, y)
            target = y
            if self.mixup is not None:
                x, target = self.mixup(x, y)
            last_micro = (micro + 1) % accum == 0
            sync = contextlib.nullcontext() if last_micro or not ctx.distributed else self.train_model.no_sync()
            with sync:
                with self._autocast():
                    logits = self.train_model(x)
                    loss = self.train_loss(logits, target)
                scaled = loss / accum
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            if last_micro:
                self._optimizer_step()
            n = y.shape[0]
            loss_sum += float(loss.detach()) * n
            correct += _topk_correct(logits.detach().float(), y, 1)
            seen += n
            if last_micro:
                step = (micro + 1) // accum
                rate = seen * ctx.world_size / max(time.perf_counter() - start, 1e-9)
                progress.step(step, loss_sum / seen, 100.0 * correct / seen, rate)
        elapsed = time.perf_counter() - start
        loss_sum, correct, seen = ctx.sum([loss_sum, correct, seen])
        return {"train_loss": loss_sum / seen, "train_top1": 100.0 * correct / seen,
                "images_per_s": seen / max(elapsed, 1e-9)}

    def _optimizer_step(self) -> None:
        if self.scaler is not None:
            if self.config.clip_grad:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if self.config.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.num_updates += 1
        if self.ema is not None:
            self.ema.update(self.model, step=self.num_updates)
        self.scheduler.step_update(num_updates=self.num_updates)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        loss_sum = top1 = top5 = seen = 0.0
        for x, y in self.val_loader:
            x, y = self._to_device(x, y)
            with self._autocast():
                logits = model(x)
            logits = logits.float()
            loss_sum += float(self.eval_loss(logits, y))
            top1 += _topk_correct(logits, y, 1)
            top5 += _topk_correct(logits, y, 5)
            seen += y.shape[0]
        loss_sum, top1, top5, seen = self.ctx.sum([loss_sum, top1, top5, seen])
        return {"val_loss": loss_sum / seen, "val_top1": 100.0 * top1 / seen, "val_top5": 100.0 * top5 / seen}


def _is_better(row: dict[str, Any], best: dict[str, Any]) -> bool:
    value = row[best["metric"]]
    if best.get("value") is None:
        return True
    return value < best["value"] if best["metric"].endswith("loss") else value > best["value"]


def finetune(settings: dict[str, Any], *, output: str | Path | None = None, resume: bool = False,
             device: str = "auto", progress: FinetuneProgress | None = None,
             on_ready: Callable[[FinetuneConfig, Path, int], None] | None = None) -> FinetuneResult:
    """Train (or continue training) a network; ``settings`` are ``FinetuneConfig`` fields the user gave.

    ``on_ready(config, run_dir, start_epoch)`` is called on the primary process once everything is
    checked and before the first step (the CLI prints the run's settings there).
    """
    from timm.utils import distribute_bn, random_seed

    ctx = DistContext.from_env(device)
    try:
        if output is None:
            if settings.get("arch") is None:
                raise HwdiffError("--resume without --output needs ARCH (and --seed) to find the run's directory"
                                  if resume else "finetune needs ARCH (an architecture string of --space)")
            defaults = FinetuneConfig.defaults()
            run_dir = default_run_dir(settings["arch"], settings.get("space") or defaults["space"],
                                      defaults["seed"] if settings.get("seed") is None else settings["seed"])
        else:
            run_dir = Path(output).expanduser()
        config, ckpt = resolve_config(settings, run_dir, resume)
        data = open_image_data(config.data)
        if ctx.is_primary:
            check_writable_dir(run_dir, "--output", create=True)
        trainer = _Trainer(config, data, ctx)
        has_val = trainer.val_loader is not None
        metric = ("ema_val_top1" if config.ema else "val_top1") if has_val else "train_loss"
        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"metric": metric, "value": None, "epoch": None}
        start_epoch = 0
        if ckpt is not None:
            trainer.load(ckpt)
            history, best, start_epoch = list(ckpt["history"]), dict(ckpt["best"]), int(ckpt["epoch"])
        else:
            random_seed(config.seed, ctx.rank)  # augmentation randomness differs per rank, fixed per seed
        progress = progress if (progress is not None and ctx.is_primary) else _Silent()
        if ctx.is_primary and on_ready is not None:
            on_ready(config, run_dir, start_epoch)

        for epoch in range(start_epoch, config.epochs):
            progress.epoch_start(epoch, config.epochs, trainer.sampler.steps_per_epoch)
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch + 1, **trainer.train_epoch(epoch, progress)}
            if ctx.distributed:
                distribute_bn(trainer.model, ctx.world_size, reduce=True)
            if has_val:
                row.update(trainer.evaluate(trainer.model))
                if trainer.ema is not None:
                    row.update({f"ema_{k}": v for k, v in trainer.evaluate(trainer.ema.module).items()})
            row["lr"] = trainer.optimizer.param_groups[0]["lr"]
            row["epoch_s"] = time.perf_counter() - t0
            history.append(row)
            improved = _is_better(row, best)
            if improved:
                best = {"metric": metric, "value": row[metric], "epoch": epoch + 1}
            rng = ctx.gather(capture_rng_state())
            if ctx.is_primary:
                state = trainer.state(epoch + 1, history, best, rng)
                save_checkpoint(state, run_dir / "last.pt")
                if improved:
                    copy_checkpoint(run_dir / "last.pt", run_dir / "best.pt")
                _write_summary(run_dir / "summary.csv", history)
            progress.epoch_end(row)
        ctx.barrier()
        return FinetuneResult(run_dir=run_dir, config=config, classes=data.classes, history=history, best=best,
                              world_size=ctx.world_size, rank=ctx.rank)
    finally:
        ctx.close()
