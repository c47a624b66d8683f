"""What a ``hwdiff finetune`` run computes, as one dataclass: no torch here, so the CLI's help can show the defaults."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from hwdiff.errors import HwdiffError

# Bounds on the numbers that size memory or processes: above them a run is a typo, not a plan.
MAX_IMG_SIZE = 1024  # pixels per side; the spaces' datasets use 32 to 600
MAX_BATCH = 65536  # images per process and step
MAX_WORKERS = 256  # data-loading processes
MAX_COUNT = 100_000  # epochs, warm-up epochs, accumulation steps


@dataclass
class FinetuneConfig:
    """Everything that decides what a run computes (saved in its checkpoints; fixed when resumed)."""

    arch: str
    data: str
    space: str = "nb201"
    dataset: str | None = None  # the space's timm tag: normalisation and default input size; None = first
    epochs: int = 30
    batch_size: int = 128  # per process
    accum_steps: int = 1
    opt: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    sched: str = "cosine"
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    min_lr: float = 1e-6
    smoothing: float = 0.1
    mixup: float = 0.0
    cutmix: float = 0.0
    auto_augment: str | None = None  # timm policy, e.g. "rand-m9-mstd0.5-inc1"
    no_aug: bool = False
    crop_scale: float = 0.08
    reprob: float = 0.0
    drop_rate: float = 0.0
    clip_grad: float | None = None
    img_size: int | None = None
    ema: bool = False
    ema_decay: float = 0.9998
    amp: bool = False
    amp_dtype: str = "auto"  # auto: float16 on CUDA (with a grad scaler), bfloat16 on CPU
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    workers: int = 2
    seed: int = 0

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1 (got {self.epochs})"),
            (self.epochs <= MAX_COUNT, f"--epochs must be at most {MAX_COUNT} (got {self.epochs})"),
            (self.batch_size >= 1, f"--batch-size must be at least 1 (got {self.batch_size})"),
            (self.batch_size <= MAX_BATCH, f"--batch-size must be at most {MAX_BATCH} (got {self.batch_size})"),
            (self.accum_steps >= 1, f"--accum-steps must be at least 1 (got {self.accum_steps})"),
            (self.accum_steps <= MAX_COUNT, f"--accum-steps must be at most {MAX_COUNT} (got {self.accum_steps})"),
            (self.lr > 0, f"--lr must be positive (got {self.lr})"),
            (math.isfinite(self.lr), f"--lr must be a finite number (got {self.lr})"),
            (self.warmup_epochs >= 0, f"--warmup-epochs must be >= 0 (got {self.warmup_epochs})"),
            (self.warmup_epochs <= MAX_COUNT,
             f"--warmup-epochs must be at most {MAX_COUNT} (got {self.warmup_epochs})"),
            (0 <= self.smoothing < 1, f"--smoothing must be in [0, 1) (got {self.smoothing})"),
            (self.mixup >= 0 and self.cutmix >= 0, "--mixup and --cutmix must be >= 0"),
            (math.isfinite(self.mixup) and math.isfinite(self.cutmix), "--mixup and --cutmix must be finite numbers"),
            (0 <= self.drop_rate < 1, f"--drop must be in [0, 1) (got {self.drop_rate})"),
            (self.clip_grad is None or 0 <= self.clip_grad < math.inf,
             f"--clip-grad must be a finite number >= 0 (got {self.clip_grad})"),
            (0 < self.crop_scale <= 1, f"--crop-scale must be in (0, 1] (got {self.crop_scale})"),
            (0 <= self.reprob <= 1, f"--reprob must be in [0, 1] (got {self.reprob})"),
            (0 < self.ema_decay < 1, f"--ema-decay must be in (0, 1) (got {self.ema_decay})"),
            (self.amp_dtype in ("auto", "float16", "bfloat16"),
             f"--amp-dtype {self.amp_dtype!r}; accepted: auto, float16, bfloat16"),
            (self.workers >= 0, f"--workers must be >= 0 (got {self.workers})"),
            (self.workers <= MAX_WORKERS, f"--workers must be at most {MAX_WORKERS} (got {self.workers})"),
            (self.img_size is None or self.img_size >= 8, f"--img-size must be at least 8 (got {self.img_size})"),
            (self.img_size is None or self.img_size <= MAX_IMG_SIZE,
             f"--img-size must be at most {MAX_IMG_SIZE} pixels (got {self.img_size})"),
            (not (self.mixup or self.cutmix) or self.batch_size % 2 == 0,
             f"--mixup/--cutmix need an even --batch-size (got {self.batch_size})"),
        ]
        for ok, message in checks:
            if not ok:
                raise HwdiffError(message)
