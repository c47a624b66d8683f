#!/usr/bin/env bash
# GPU check for `hwdiff profile` (issue 5): device facts, CUDA-event timing, and lut profiles of
# nb201 on the local NVIDIA GPU with every backend installed there.
#
# NOT RUN YET: the session that wrote it had no GPU. Run it on a CUDA machine from the repository
# root (hwdiff installed), then copy the summary it prints into docs/performance.md ("Profiling").
#
#   OUT=/tmp/gpu_check bash docs/gpu_check_profiling.sh          # full: 100 networks, 3 rounds
#   QUICK=1 OUT=/tmp/gpu_check bash docs/gpu_check_profiling.sh  # about 10 minutes: 40 networks, 2 rounds
#
# TensorRT builds one engine per layer and per network (seconds each), so its run always uses the
# quick settings. Backends that are not installed are recorded with their one-line reason.
set -uo pipefail

OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export HWDIFF_HOME="$OUT/home"
if [[ -n "${QUICK:-}" ]]; then SIZE=(--validate 40 --rounds 2); else SIZE=(--validate 100 --rounds 3); fi
QUICK_SIZE=(--validate 20 --rounds 1)

date -u | tee "$OUT/date.txt"
nvidia-smi -q > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi not available" > "$OUT/nvidia-smi.txt"
hwdiff devices --local --json > "$OUT/facts.json"

# CUDA events against host synchronisation, one network: both timers must agree to a few percent.
python - > "$OUT/timer_check.txt" 2>&1 <<'PY'
from hwdiff.hardware.backends import BackendOptions, create_backend
from hwdiff.hardware.timing import TimingSettings, measure_latency
from hwdiff.spaces import get_space

space = get_space("nb201")
arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
model = space.create_model(arch, "cifar10")
runner = create_backend("pytorch", BackendOptions(target="cuda")).prepare(model, (3, 32, 32))


class HostTimed:
    """The same runner timed by the host clock around torch.cuda.synchronize()."""

    timer, cuda_stream = "perf_counter", None

    def __init__(self, inner):
        self.inner = inner

    def __call__(self):
        self.inner()

    def synchronize(self):
        self.inner.synchronize()


host = HostTimed(runner)
settings = TimingSettings()
events, wall = measure_latency(runner, settings), measure_latency(host, settings)
print(f"cuda events: {events.median_ms:.4f} ms (IQR {events.iqr_ms:.4f}), "
      f"host sync: {wall.median_ms:.4f} ms (IQR {wall.iqr_ms:.4f}), "
      f"difference {100 * (wall.median_ms - events.median_ms) / events.median_ms:+.1f} %")
PY
cat "$OUT/timer_check.txt"

run() {  # name, then hwdiff profile options
  local name=$1; shift
  echo "== $name: hwdiff profile --device cuda $*"
  if hwdiff profile --device cuda --json --force "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"; then
    echo "   ok"
  else
    echo "   failed: $(tail -n 1 "$OUT/$name.err")"
  fi
}

run pytorch-fp32      --backend pytorch --precision fp32 "${SIZE[@]}"
run pytorch-fp16      --backend pytorch --precision fp16 "${SIZE[@]}"
run onnxruntime-fp32  --backend onnxruntime "${SIZE[@]}"
run onnxruntime-trt   --backend onnxruntime-trt --precision fp16 "${QUICK_SIZE[@]}"
run tensorrt-fp16     --backend tensorrt --precision fp16 "${QUICK_SIZE[@]}"
run tensorrt-fp32     --backend tensorrt --precision fp32 "${QUICK_SIZE[@]}"

# The repeatability target: the same profile twice, whole-network medians compared.
run pytorch-fp32-again --backend pytorch --precision fp32 "${SIZE[@]}" --out "$OUT/home/profiles/again.json"

python - "$OUT" <<'PY'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
print(f"\n{'run':<20} {'s':>6} {'MAPE %':>7} {'±10 %':>6} {'tau':>6} {'throttle'}")
for path in sorted(out.glob("*.json")):
    if path.name == "facts.json":
        continue
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        continue
    v = doc.get("validation") or {}
    print(f"{path.stem:<20} {doc['seconds']:>6.0f} {v.get('mape', float('nan')):>7.2f} "
          f"{v.get('within_10pct', float('nan')):>6.0%} {v.get('kendall_tau') or float('nan'):>6.3f} "
          f"{', '.join(doc['throttle_reasons']) or '-'}")
for name in ("pytorch-fp32", "onnxruntime-fp32", "tensorrt-fp16"):
    err = out / f"{name}.err"
    if err.exists() and err.read_text().strip().startswith("error:"):
        print(f"{name}: {err.read_text().strip()}")
first, again = out / "pytorch-fp32.json", out / "pytorch-fp32-again.json"
if first.exists() and again.exists():
    import numpy as np

    def medians(summary):
        profile = json.loads(Path(json.loads(summary.read_text())["file"]).read_text())
        return {n["arch"]: n["measured_ms"] for n in profile["lut"]["networks"]}

    a, b = medians(first), medians(again)
    diff = np.array([abs(b[k] - a[k]) / a[k] for k in a if k in b]) * 100
    print(f"repeat: whole-network medians differ by median {np.median(diff):.2f} %, 95th pct "
          f"{np.percentile(diff, 95):.2f} %, max {diff.max():.2f} %, {np.mean(diff <= 5):.0%} within 5 %")
PY
