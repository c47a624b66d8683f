"""The one ONNX writer: what ``hwdiff profile`` times through ONNX Runtime/TensorRT is what ``hwdiff export`` ships.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter, at opset
``DEFAULT_OPSET``, input ``input``, output ``logits``, constant folding on. Measured with torch
2.14.1 on this project's networks (docs/profiling.md): for the same operators (it only adds
``Identity`` aliases of shared initializers, which ONNX Runtime removes), it exports 14-26x faster
than the ``torch.export``-based one (``dynamo=True`` rebuilds its operator registry on every call,
about 2 s), and a lut profile exports one model per layer and per validation network. Where a
future torch drops the TorchScript exporter, this is the one place to change.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError

DEFAULT_OPSET = 18
OPSETS = (13, 20)  # what the TorchScript exporter writes (torch 2.14: up to 20)
INPUT_NAME, OUTPUT_NAME = "input", "logits"
EXPORTER = {"name": "torch.onnx.export", "mode": "dynamo=False (TorchScript exporter)"}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The exporters talk on stdout/stderr and warn about deprecations; ``--json`` output must stay clean."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def write_onnx(model: Any, example: Any, out: str | Path | io.BytesIO, *, opset: int = DEFAULT_OPSET,
               dynamic_batch: bool = False) -> None:
    """Export ``model`` traced on ``example`` to ``out`` (a path or a buffer); ``HwdiffError`` if the exporter fails.

    A network whose output does not depend on its input (all ``none`` ops) loses the input: the
    model then has no inputs, which every reader of these files accepts.
    """
    import torch

    if not OPSETS[0] <= opset <= OPSETS[1]:
        raise HwdiffError(f"--opset {opset} is outside what this exporter writes ({OPSETS[0]} to {OPSETS[1]})")
    kwargs: dict[str, Any] = {"opset_version": opset, "input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME],
                              "do_constant_folding": True}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    if dynamic_batch:
        kwargs["dynamic_axes"] = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    target = str(out) if isinstance(out, (str, Path)) else out
    try:
        with quiet(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(model, (example,), target, **kwargs)
    except Exception as exc:  # the exporter raises many types; say which network failed and why
        raise HwdiffError(f"torch.onnx.export failed for this network ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else 'no message'})") from None


def onnx_bytes(model: Any, example: Any, *, opset: int = DEFAULT_OPSET) -> bytes:
    """The ONNX model ``write_onnx`` writes, as bytes (what the profiling backends load)."""
    buffer = io.BytesIO()
    write_onnx(model, example, buffer, opset=opset)
    return buffer.getvalue()
