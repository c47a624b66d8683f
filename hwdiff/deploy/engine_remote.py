"""``hwdiff export --format trt --remote ssh://user@board``: the engine is built, checked and timed on the board.

The steps follow ``bench-model --remote`` (``hwdiff.hardware.remote``):

1. **check** -- the board's Python and hwdiff, what builds engines there (TensorRT's Python API,
   ``trtexec``, or the ``$HWDIFF_TRT_STANDIN`` test stand-in) and a temporary folder;
2. **here** -- the ONNX model (the one ONNX writer, parity-checked with ONNX Runtime) in the
   precision the board's TensorRT needs, and the PyTorch reference outputs on seeded inputs;
3. **there** -- both files are copied to the folder and the board's ``hwdiff build-engine`` builds
   the engine, checks it against the reference and times it with the profiling timer;
4. **back** -- the engine is copied here (its checksum checked) and gets its sidecar: the board's
   ``built_on`` facts (host, GPU, TensorRT) plus ``remote`` (URL, board Python and hwdiff). The
   board's folder is removed.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hwdiff.deploy.engine import REFERENCE_SUFFIX, write_reference
from hwdiff.deploy.export import ExportOptions, engine_fields, export_engine_onnx, reference_outputs
from hwdiff.deploy.source import ModelSource
from hwdiff.errors import HwdiffError
from hwdiff.hardware.remote import check_board, json_document, run_failure
from hwdiff.hardware.trt_engine import INSTALL_HINT
from hwdiff.storage import atomic_path, utc_timestamp


def build_command(folder: str, onnx_name: str, engine_name: str, options: ExportOptions) -> list[str]:
    """The board's ``hwdiff build-engine`` arguments."""
    atol, rtol = options.tolerance()
    return ["-m", "hwdiff", "build-engine", f"{folder}/{onnx_name}", "--reference",
            f"{folder}/{onnx_name}{REFERENCE_SUFFIX}", "--output", f"{folder}/{engine_name}",
            "--precision", options.precision, "--batch", str(options.batch),
            *(["--dynamic-batch"] if options.dynamic_batch else []), "--atol", repr(atol), "--rtol", repr(rtol),
            "--json"]


def export_trt_remote(source: ModelSource, options: ExportOptions, path: Path) -> tuple[dict[str, Any], list]:
    """Build ``path`` on ``options.remote``; (sidecar fields, [the ONNX export])."""
    remote = options.remote
    board, doc = check_board(remote, {"bench": True, "engine": True})
    folder = doc["bench"]["folder"]
    try:
        builder = doc.get("engine")
        if builder is None:
            raise HwdiffError(f"{remote.target.destination} has no TensorRT (neither the Python module nor trtexec): "
                              f"{INSTALL_HINT}; nothing written")
        onnx_result = export_engine_onnx(source, options, path, bool(builder["strongly_typed"]))
        with tempfile.TemporaryDirectory(prefix="hwdiff-engine-") as scratch:
            reference = Path(scratch) / f"{onnx_result.path.name}{REFERENCE_SUFFIX}"
            write_reference(reference, *reference_outputs(source, options))
            remote.write_file(f"{folder}/{onnx_result.path.name}", onnx_result.path)
            remote.write_file(f"{folder}/{reference.name}", reference)
        command = remote.python_command(*build_command(folder, onnx_result.path.name, path.name, options))
        code, stdout, lines = remote.stream(command, lambda line: None)
        if code != 0:
            raise run_failure(remote, code, lines, "the engine build", "run the same command again")
        built = json_document(stdout, "build-engine on the board")
        data = remote.read_file(f"{folder}/{path.name}")
        if hashlib.sha256(data).hexdigest() != built.get("sha256"):
            raise HwdiffError(f"the engine copied from {remote.target.destination} differs from the one built there "
                              "(checksum); nothing written: run the same command again")
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    finally:
        remote.remove_tree(folder)
    built["built_on"]["remote"] = {"url": remote.target.url, **board.to_json(), "copied": utc_timestamp()}
    return engine_fields(built, onnx_result), [onnx_result]

