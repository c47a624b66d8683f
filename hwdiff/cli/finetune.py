"""``hwdiff finetune`` (one process, or many under ``torchrun ... -m hwdiff finetune``)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hwdiff.cli.interrupt import Interrupted
from hwdiff.cli.render import console, err_console, print_json
from hwdiff.deploy.finetune_config import FinetuneConfig

if TYPE_CHECKING:  # torch and timm are imported when the command runs, not for --help
    from hwdiff.deploy.finetune import FinetuneResult

_D = FinetuneConfig.defaults()


def _h(text: str, key: str) -> str:
    """Help text with the library default (options default to "not given" so --resume can tell)."""
    return f"{text} (default: {_D[key]})"


class _RichProgress:
    """A progress bar per epoch (loss, top-1, images/s) and one line per finished epoch."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}  top-1 {task.fields[top1]:.1f}%  "
                                       "{task.fields[rate]:.0f} img/s"), TimeElapsedColumn(),
                            console=err_console, transient=True)
        self.task = None

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, loss=0.0, top1=0.0, rate=0.0)

    def step(self, step: int, loss: float, top1: float, images_per_s: float) -> None:
        self.bar.update(self.task, completed=step, loss=loss, top1=top1, rate=images_per_s)

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.bar.remove_task(self.task)
        self.bar.stop()
        parts = [f"epoch {row['epoch']}", f"train loss {row['train_loss']:.4f}", f"top-1 {row['train_top1']:.1f}%"]
        if "val_top1" in row:
            parts += [f"val loss {row['val_loss']:.4f}", f"val top-1 {row['val_top1']:.2f}%",
                      f"top-5 {row['val_top5']:.2f}%"]
        if "ema_val_top1" in row:
            parts.append(f"EMA val top-1 {row['ema_val_top1']:.2f}%")
        parts += [f"lr {row['lr']:.3g}", f"{row['images_per_s']:.0f} img/s"]
        err_console.print("  ".join(parts), markup=False, soft_wrap=True)


def finetune(
    arch: str = typer.Argument(None, help="Architecture string (optional with --resume)."),
    data: str = typer.Option(None, help="Data: ImageFolder DIR with train/CLASS/*.jpg (and val/CLASS/*.jpg), "
                                        "or a folder holding CIFAR's cifar-10-batches-py / cifar-100-python."),
    space: str = typer.Option(None, help=_h("Search space.", "space")),
    dataset: str = typer.Option(None, help="The space's dataset tag (normalisation, default input size) "
                                           "(default: the space's first, e.g. cifar10 for nb201)."),
    epochs: int = typer.Option(None, help=_h("Epochs.", "epochs")),
    batch_size: int = typer.Option(None, "--batch-size", "-b", help=_h("Batch size per process.", "batch_size")),
    accum_steps: int = typer.Option(None, help=_h("Gradient accumulation steps per optimiser step.", "accum_steps")),
    opt: str = typer.Option(None, help=_h("timm optimiser (sgd = SGD with Nesterov momentum, adamw, ...).", "opt")),
    lr: float = typer.Option(None, help=_h("Peak learning rate.", "lr")),
    weight_decay: float = typer.Option(None, help=_h("Weight decay.", "weight_decay")),
    momentum: float = typer.Option(None, help=_h("Momentum.", "momentum")),
    sched: str = typer.Option(None, help=_h("timm scheduler.", "sched")),
    warmup_epochs: int = typer.Option(None, help=_h("Linear warm-up epochs.", "warmup_epochs")),
    warmup_lr: float = typer.Option(None, help=_h("Learning rate at the start of warm-up.", "warmup_lr")),
    min_lr: float = typer.Option(None, help=_h("Final learning rate of the cosine.", "min_lr")),
    smoothing: float = typer.Option(None, help=_h("Label smoothing.", "smoothing")),
    mixup: float = typer.Option(None, help=_h("Mixup alpha (0 = off).", "mixup")),
    cutmix: float = typer.Option(None, help=_h("CutMix alpha (0 = off).", "cutmix")),
    aa: str = typer.Option(None, "--aa", help="timm auto-augment policy, e.g. rand-m9-mstd0.5-inc1 (RandAugment) "
                                              "(default: none)."),
    no_aug: bool = typer.Option(None, "--no-aug", help="No random augmentation (resize and centre crop only)."),
    crop_scale: float = typer.Option(None, help=_h("Smallest area share of RandomResizedCrop.", "crop_scale")),
    reprob: float = typer.Option(None, help=_h("Random erasing probability.", "reprob")),
    drop: float = typer.Option(None, "--drop", help=_h("Dropout before the classifier.", "drop_rate")),
    clip_grad: float = typer.Option(None, help="Clip the gradient norm to this value (default: no clipping)."),
    img_size: int = typer.Option(None, help="Input size in pixels (default: the dataset tag's, e.g. 32)."),
    ema: bool = typer.Option(None, "--ema", help="Keep an EMA of the weights (timm ModelEmaV3); best by EMA."),
    ema_decay: float = typer.Option(None, help=_h("EMA decay.", "ema_decay")),
    amp: bool = typer.Option(None, "--amp", help="Mixed precision with torch.autocast (fp16 + grad scaler on CUDA, "
                                                 "bf16 on CPU)."),
    amp_dtype: str = typer.Option(None, help=_h("auto, float16 or bfloat16.", "amp_dtype")),
    channels_last: bool = typer.Option(None, "--channels-last", help="channels_last memory format."),
    compile_model: bool = typer.Option(None, "--compile", help="torch.compile the model."),
    sync_bn: bool = typer.Option(None, "--sync-bn", help="SyncBatchNorm across GPUs under torchrun (CUDA only)."),
    workers: int = typer.Option(None, help=_h("Data loader workers per process.", "workers")),
    seed: int = typer.Option(None, help=_h("Seed: initial weights, data order, augmentation.", "seed")),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Run directory (default: $HWDIFF_HOME/runs/<space>-<arch hash>-s<seed>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in the run directory from last.pt."),
    device: str = typer.Option("auto", help="auto, cpu or cuda (under torchrun: the local rank's GPU)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train an architecture on an image folder (timm data, optimiser, scheduler, EMA; torchrun for many GPUs).

    Writes RUN_DIR/last.pt and best.pt (atomically, every epoch) and RUN_DIR/summary.csv.
    """
    settings = dict(arch=arch, data=data, space=space, dataset=dataset, epochs=epochs, batch_size=batch_size,
                    accum_steps=accum_steps, opt=opt, lr=lr, weight_decay=weight_decay, momentum=momentum,
                    sched=sched, warmup_epochs=warmup_epochs, warmup_lr=warmup_lr, min_lr=min_lr,
                    smoothing=smoothing, mixup=mixup, cutmix=cutmix, auto_augment=aa, no_aug=no_aug,
                    crop_scale=crop_scale, reprob=reprob, drop_rate=drop, clip_grad=clip_grad, img_size=img_size,
                    ema=ema, ema_decay=ema_decay, amp=amp, amp_dtype=amp_dtype, channels_last=channels_last,
                    compile=compile_model, sync_bn=sync_bn, workers=workers, seed=seed)
    from hwdiff.deploy.finetune import finetune as run_finetune
    from hwdiff.spaces import get_space

    state: dict[str, Any] = {}

    def ready(config: FinetuneConfig, run_dir: Path, start_epoch: int) -> None:
        state["run_dir"] = run_dir
        what = f"resuming after epoch {start_epoch}" if resume else "new run"
        tag = config.dataset or next(iter(get_space(config.space).datasets))
        err_console.print(f"finetune {config.arch}  space={config.space} dataset={tag} "
                          f"data={config.data}  epochs={config.epochs} batch={config.batch_size} lr={config.lr} "
                          f"seed={config.seed}  -> {run_dir} ({what})", markup=False, soft_wrap=True)

    try:
        result = run_finetune(settings, output=output, resume=resume, device=device,
                              progress=None if json_out else _RichProgress(), on_ready=ready)
    except KeyboardInterrupt:
        raise _interrupted(state.get("run_dir")) from None
    if result.rank == 0:
        _report(result, json_out)


def _interrupted(run_dir: Path | None) -> Interrupted:
    """What a stopped run kept: ``last.pt`` (continued by ``--output RUN_DIR --resume``) or nothing."""
    where = ["--output", str(run_dir)] if run_dir else []
    if run_dir is None or not (Path(run_dir) / "last.pt").exists():
        resume = shlex.join(["hwdiff", "finetune", *where, "--resume"])
        return Interrupted("stopped before the first epoch finished, nothing kept",
                           f"starts it again (once an epoch has finished, `{resume}` continues)")
    return Interrupted(f"{Path(run_dir) / 'last.pt'} keeps the last finished epoch", "continues from it",
                       command=["finetune", *where, "--resume"])


def _report(result: FinetuneResult, json_out: bool) -> None:
    doc = {"run_dir": str(result.run_dir), "last": str(result.last_checkpoint),
           "best": str(result.best_checkpoint) if result.best_checkpoint.exists() else None,
           "best_epoch": result.best["epoch"], "best_metric": result.best["metric"],
           "best_value": result.best["value"], "world_size": result.world_size, "classes": list(result.classes),
           "history": result.history}
    if json_out:
        print_json(doc)
        return
    console.print(f"best {result.best['metric']} {result.best['value']:.4g} at epoch {result.best['epoch']}; "
                  f"run directory {result.run_dir} (best.pt, last.pt, summary.csv)", markup=False, soft_wrap=True)
    console.print(f"next: hwdiff export {result.best_checkpoint} --format onnx", markup=False, soft_wrap=True)
