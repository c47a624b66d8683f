"""Fixed-length numeric encodings of effnet architectures, for the learned predictors.

``arch_features``: per stage a one-hot of each choice plus the choices as scaled numbers (what the
accuracy predictor and the latency models' nonlinear part read). ``layer_counts``: how many of each
of the 168 layer variants (``layers.layer_variants()``) a network has (what an additive latency
model weighs: a network's latency is close to the sum of its layers' latencies).
"""

from __future__ import annotations

import numpy as np

from hwdiff.spaces.effnet.layers import layer_variants
from hwdiff.spaces.effnet.space import EXPANSIONS, KERNELS, NUM_STAGES, arch_values, layer_choices

FEATURES_VERSION = "effnet-features-v1"


def _values(archs_or_values) -> np.ndarray:
    if isinstance(archs_or_values, np.ndarray):
        return archs_or_values
    return arch_values(list(archs_or_values))


def arch_features(archs_or_values) -> np.ndarray:
    """Float32 ``[B, 92]``: one-hot expansion/kernel/layers/se per stage (64), then e/6, (k-3)/2, l/4, se (28)."""
    v = _values(archs_or_values)
    cols = []
    for s in range(NUM_STAGES):
        e, k, n, se = v[:, s, 0], v[:, s, 1], v[:, s, 2], v[:, s, 3]
        cols += [e == x for x in EXPANSIONS] + [k == x for x in KERNELS]
        cols += [n == x for x in layer_choices(s)] + [se == 1]
    onehot = np.stack(cols, axis=1).astype(np.float32)
    numeric = np.concatenate([v[:, :, 0] / 6, (v[:, :, 1] - 3) / 2, v[:, :, 2] / 4, v[:, :, 3]], axis=1)
    return np.concatenate([onehot, numeric.astype(np.float32)], axis=1)


def layer_counts(archs_or_values) -> np.ndarray:
    """Float64 ``[B, 168]``: count of each ``layer_variants()`` entry in each network."""
    v = _values(archs_or_values)
    variants = len(layer_variants())
    per_stage = variants // NUM_STAGES  # first/rest x expansion x kernel x se
    out = np.zeros((len(v), variants))
    rows = np.arange(len(v))
    for s in range(NUM_STAGES):
        e_idx = np.searchsorted(EXPANSIONS, v[:, s, 0])
        k_idx = np.searchsorted(KERNELS, v[:, s, 1])
        offset = s * per_stage + e_idx * 2 * len(KERNELS) + k_idx * 2 + v[:, s, 3]
        out[rows, offset] = 1.0  # the stage's first layer
        out[rows, offset + per_stage // 2] = v[:, s, 2] - 1  # its other layers
    return out
