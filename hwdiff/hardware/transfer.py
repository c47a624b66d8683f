"""Few-shot device latency: one model per space, learned across the shipped devices, adapted to a new
device from a few measured whole networks.

Every device's log-latency over a space is, to a good approximation, a mix of a few shapes that all
devices share (a conv-bound shape, a memory-bound shape, a launch-overhead floor, ...). The model
learns those shapes from the shipped devices and, for a new device, how much of each it has:

1. **Features.** ``phi(a) = [1, additive(a), dense(a)]`` from the space's ``latency_features()``.
2. **Source devices.** For each shipped device ``d``, a ridge regression
   ``log t_d(a) ~ phi(a) . beta_d`` on its measurements (the whole space for nb201, the records for
   effnet). The fit also smooths out what no architecture feature explains (drift of the
   measurement over the benchmark's run order).
3. **Shared basis.** Over the reference architectures ``R`` (those measured), the centred source
   predictions ``G = phi(R) B - g_bar`` have the SVD ``U S V^T``. The basis is
   ``z(a) = (phi(a) B - g_bar) V S^-1 sqrt|R|`` (unit variance per component over ``R``) and device
   ``d``'s head is ``h_d = V_d S / sqrt|R|``, so ``log t_d(a) = g_bar_d + z(a) . h_d``.
4. **Prior.** A new device is most often *like* some device measured before (a phone like the other
   phones, a GPU at batch 32 like the others at 32), and otherwise somewhere in their span. The prior
   on its head is a mixture: for every source device ``d`` and every scale ``tau`` in
   ``PRIOR_SCALES``, ``N(h_d, tau C)``, and once the broad ``N(m, C)``; ``m`` and ``C`` are the mean
   and covariance of the source heads (plus ``PRIOR_RIDGE`` times their mean variance on the
   diagonal, so that a new device may use a direction the sources barely use).
5. **Adaptation.** For a new device with measured ``y_i = log t(a_i)``:
   ``y = c + z(a) . w + e``, flat prior on the offset ``c`` (the data are centred), each mixture
   component's noise variance ``s2`` chosen from ``NOISE_GRID`` by its marginal likelihood (a noisy
   device trusts the prior more). Each component's posterior is Gaussian:
   ``A = C_k^-1 + Zc^T W Zc / s2``, ``w_k = m_k + A^-1 Zc^T W (yc - Zc m_k) / s2``, with the
   likelihood computed in the K-dimensional form (``|Zc C_k Zc^T + s2 W^-1| = s2^N |C_k| |A| / |W|``),
   so a fit costs the same for 5 networks as for 5,000. The head ``w`` is the components'
   posterior mean weighted by their marginal likelihoods (Bayesian model averaging over "which device
   is it like, and how closely"). The noise is Student-t (``STUDENT_NU`` degrees of freedom), by
   iteratively reweighting each network by ``(nu + 1) / (nu + r^2 / s2)``: one network timed while
   something else ran must not bend the head. The spread the fit expects of a network it did not see
   is the t's variance ``s2 nu / (nu - 2)`` times ``(1 + 1/N)`` plus the mixture posterior's
   variance along the network's basis vector, averaged over the measured networks: what a
   search's confidence margin uses.

``(c, w)`` is the device's embedding: a point in the same space as the source devices' heads.
The model ships per space as ``hwdiff/data/tables/latency_transfer_<space>.npz`` (plain arrays);
``python -m tools.fit_latency_transfer`` makes it, ``python -m tools.bench_fewshot`` measures it
leave-one-device-out.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.spaces import LatencyFeatures, get_space

TABLES_DIR = Path(__file__).resolve().parents[1] / "data" / "tables"
FORMAT = "hwdiff.latency-transfer/1"
SOURCE_RIDGE = 1e-2  # ridge of each source device's feature regression (features are 0/1 or O(1))
PRIOR_RIDGE = 1e-3  # of the heads' mean variance, added to their covariance's diagonal
PRIOR_SCALES = (0.02, 0.05, 0.1, 0.2, 0.5)  # covariances around each source head, as shares of C
STUDENT_NU = 4.0  # degrees of freedom of the measurement noise
ROBUST_ROUNDS = 8  # most reweighting rounds of the Student-t fit
NOISE_GRID = np.logspace(-3.5, -0.5, 13)  # log-latency noise variances the marginal likelihood picks from
MIN_NETWORKS = 5


def transfer_path(space: str) -> Path:
    return TABLES_DIR / f"latency_transfer_{space}.npz"


def space_features(space: str) -> LatencyFeatures:
    features = get_space(space).latency_features()
    if features is None:
        raise HwdiffError(f"no few-shot latency model for space {space!r}: it has no latency features")
    return features


def feature_matrix(features: LatencyFeatures, archs: Sequence[str]) -> np.ndarray:
    """``phi``: ``[B, 1 + terms + dense]`` float64, the intercept first."""
    archs = list(archs)
    return np.concatenate([np.ones((len(archs), 1)), features.additive(archs).astype(np.float64),
                           features.dense(archs).astype(np.float64)], axis=1)


@dataclass(frozen=True)
class DeviceFit:
    """A device's adapted latency model: ``log t(a) = offset + z(a) . weights``."""

    offset: float
    weights: np.ndarray  # [K]
    noise: float  # the log-latency noise variance the fit found
    log_sd: float = 0.0  # expected spread of log(measured / predicted) for a network the fit did not see

    def log_latency(self, basis: np.ndarray) -> np.ndarray:
        return self.offset + basis @ self.weights


@dataclass(frozen=True)
class TransferModel:
    """The shared basis and the prior over device heads of one space (see the module docstring)."""

    space: str
    features_version: str
    source_devices: tuple[str, ...]
    projection: np.ndarray  # [F, K]: phi(a) @ projection - basis_offset = z(a)
    basis_offset: np.ndarray  # [K]
    source_heads: np.ndarray  # [D, K]
    source_offsets: np.ndarray  # [D]: g_bar_d, mean log-latency of device d over the reference archs
    reference_archs: int

    @property
    def components(self) -> int:
        return self.projection.shape[1]

    @functools.cached_property
    def prior(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the source heads (ridged): the broad component of the prior."""
        heads = self.source_heads
        cov = np.atleast_2d(np.cov(heads.T)) if len(heads) > 1 else np.eye(self.components)
        return heads.mean(axis=0), cov + PRIOR_RIDGE * np.trace(cov) / self.components * np.eye(self.components)

    @functools.cached_property
    def prior_mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The mixture prior: means ``[M, K]``, covariance scales ``[M]`` (times ``prior``'s covariance ``C``),
        ``C^-1`` and ``log |C|``, computed once per model rather than per reweighting round."""
        mean, cov = self.prior
        scales = np.concatenate([np.repeat(PRIOR_SCALES, len(self.source_heads)), [1.0]])
        means = np.concatenate([np.tile(self.source_heads, (len(PRIOR_SCALES), 1)), mean[None]])
        return means, scales, np.linalg.inv(cov), float(np.linalg.slogdet(cov)[1])

    @functools.cached_property
    def _features(self) -> LatencyFeatures:
        features = space_features(self.space)
        if features.version != self.features_version:
            raise HwdiffError(f"the few-shot latency model of {self.space} was fitted on features "
                              f"{self.features_version!r}; this hwdiff computes {features.version!r}")
        return features

    def basis(self, archs: Sequence[str]) -> np.ndarray:
        """``z(a)``: ``[B, K]``."""
        return feature_matrix(self._features, archs) @ self.projection - self.basis_offset

    def adapt(self, archs: Sequence[str], latency_ms: Sequence[float], minimum: int = MIN_NETWORKS) -> DeviceFit:
        """The device's head under the mixture prior, with Student-t noise (see the module docstring).

        ``minimum``: fewest networks accepted (leave-one-out validation of a minimal profile fits on one less).
        """
        y = np.log(np.asarray(latency_ms, dtype=np.float64))
        if len(y) < minimum or len(y) != len(archs):
            raise HwdiffError(f"a few-shot latency fit needs at least {minimum} measured networks, got {len(y)}")
        z = self.basis(archs)
        reliance = np.ones(len(y))
        for _ in range(ROBUST_ROUNDS):
            fit = self._posterior(z, y, reliance)
            residual = y - fit.log_latency(z)
            scale2 = fit.noise * (STUDENT_NU - 2) / STUDENT_NU  # the t's squared scale, from its variance
            updated = (STUDENT_NU + 1) / (STUDENT_NU + residual ** 2 / scale2)
            if np.max(np.abs(updated - reliance)) < 1e-3:
                break
            reliance = updated
        return fit

    def _posterior(self, z: np.ndarray, y: np.ndarray, reliance: np.ndarray) -> DeviceFit:
        """One weighted round of ``adapt``: every mixture component's posterior, averaged by marginal
        likelihood. ``reliance``: each network's weight (its noise's squared scale is ``s2 / reliance``)."""
        n, k = z.shape
        share = reliance / reliance.sum()
        z_mean, y_mean = share @ z, float(share @ y)
        zc, yc = z - z_mean, y - y_mean
        means, scales, precision, cov_logdet = self.prior_mixture  # [M, K], [M], [K, K], scalar
        gram = zc.T @ (reliance[:, None] * zc)  # Z^T W Z
        residual = yc[None, :] - means @ zc.T  # [M, N]: yc - Zc m_k
        weighted_ss = (residual ** 2) @ reliance  # [M]
        projected = (residual * reliance) @ zc  # [M, K]: Z^T W r_k
        best = np.full(len(scales), -np.inf)
        heads, noise = np.zeros_like(means), np.zeros(len(scales))

        def precision_of(s2: np.ndarray | float) -> np.ndarray:  # each component's posterior precision A
            return precision[None] / scales[:, None, None] + gram[None] / np.reshape(s2, (-1, 1, 1))

        for s2 in NOISE_GRID:
            a = precision_of(s2)  # [M, K, K]
            b = projected / s2
            solved = np.linalg.solve(a, b[..., None])[..., 0]
            _, a_logdet = np.linalg.slogdet(a)
            ll = -0.5 * (weighted_ss / s2 - np.einsum("mk,mk->m", b, solved) + a_logdet
                         + k * np.log(scales) + cov_logdet + n * np.log(s2))
            better = ll > best
            best[better], noise[better] = ll[better], s2
            heads[better] = means[better] + solved[better]
        p = np.exp(best - best.max())
        p /= p.sum()
        weights = p @ heads
        spread_heads = heads - weights
        inverse = np.linalg.inv(precision_of(noise))  # at each component's chosen noise
        posterior_cov = np.einsum("m,mij->ij", p, inverse) + spread_heads.T @ (p[:, None] * spread_heads)
        variance = float(p @ noise) * STUDENT_NU / (STUDENT_NU - 2)  # of the t noise with squared scale s2
        # Predictive variance of a new network: the noise, the offset's (noise / N) and the head's posterior
        # variance along the network's basis vector, averaged over the measured (spread-out) networks.
        along = float(np.mean(np.einsum("ij,jk,ik->i", zc, posterior_cov, zc)))
        return DeviceFit(offset=y_mean - float(z_mean @ weights), weights=weights, noise=variance,
                         log_sd=float(np.sqrt(variance * (1 + 1 / n) + along)))

    def project(self, archs: Sequence[str], latency_ms: Sequence[float], basis: np.ndarray | None = None
                ) -> DeviceFit:
        """The head of a device known on many architectures (a table, or any profile's predictions over the
        space): the least-squares fit of its log-latency on the basis, no prior. For a few-shot profile's own
        predictions it gives back the profile's fit. ``basis``: ``self.basis(archs)``, when the caller has it."""
        y = np.log(np.asarray(latency_ms, dtype=np.float64))
        if len(y) <= self.components + 1 or len(y) != len(archs) or not np.isfinite(y).all():
            raise HwdiffError(f"projecting a device on the latency basis needs more than {self.components + 1} "
                              f"finite, positive latencies, got {len(y)}")
        z = np.concatenate([np.ones((len(y), 1)), self.basis(archs) if basis is None else basis], axis=1)
        coef = np.linalg.lstsq(z, y, rcond=None)[0]
        residual = y - z @ coef
        return DeviceFit(offset=float(coef[0]), weights=coef[1:], noise=float(residual @ residual / len(y)))

    def predict_ms(self, fit: DeviceFit, archs: Sequence[str]) -> np.ndarray:
        if not len(archs):
            return np.zeros(0)
        return np.exp(fit.log_latency(self.basis(archs)))

    def source_log_latency(self, archs: Sequence[str]) -> np.ndarray:
        """``[B, D]``: each source device's (smoothed) log-latency of ``archs``."""
        return self.source_offsets + self.basis(archs) @ self.source_heads.T

    def nearest_sources(self, fit: DeviceFit, k: int = 3) -> list[tuple[str, float]]:
        """The source devices most like ``fit``'s: the cosine of two heads is the correlation of the two
        devices' log-latencies over the reference archs (the basis is orthonormal there)."""
        heads = self.source_heads
        sims = heads @ fit.weights / (np.linalg.norm(heads, axis=1) * np.linalg.norm(fit.weights) + 1e-12)
        order = np.argsort(-sims)[:k]
        return [(self.source_devices[i], float(sims[i])) for i in order]

    # -- storage ---------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "format": np.array(FORMAT), "space": np.array(self.space),
            "features_version": np.array(self.features_version),
            "source_devices": np.array(self.source_devices), "projection": self.projection,
            "basis_offset": self.basis_offset, "source_heads": self.source_heads,
            "source_offsets": self.source_offsets, "reference_archs": np.array(self.reference_archs),
        }

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for key, value in sorted(self.arrays().items()):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        return digest.hexdigest()

    def save(self, path: Path) -> Path:
        from hwdiff.storage import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **self.arrays())
        return path

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], where: str) -> TransferModel:
        try:
            if str(arrays["format"]) != FORMAT:
                raise ValueError(f"format {str(arrays['format'])!r}, expected {FORMAT!r}")
            model = cls(space=str(arrays["space"]), features_version=str(arrays["features_version"]),
                        source_devices=tuple(str(d) for d in arrays["source_devices"]),
                        projection=np.asarray(arrays["projection"], dtype=np.float64),
                        basis_offset=np.asarray(arrays["basis_offset"], dtype=np.float64),
                        source_heads=np.asarray(arrays["source_heads"], dtype=np.float64),
                        source_offsets=np.asarray(arrays["source_offsets"], dtype=np.float64),
                        reference_archs=int(arrays["reference_archs"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise HwdiffError(f"few-shot latency model {where} is corrupt ({exc})") from None
        k = model.projection.shape[1] if model.projection.ndim == 2 else -1
        if (k < 1 or model.basis_offset.shape != (k,) or model.source_heads.shape != (len(model.source_devices), k)
                or not all(np.isfinite(a).all() for a in (model.projection, model.source_heads))):
            raise HwdiffError(f"few-shot latency model {where} is corrupt (array shapes do not agree)")
        return model


@functools.lru_cache(maxsize=8)
def load_transfer_model(space: str) -> TransferModel:
    """The shipped model of ``space``; one line naming the maintainer command when there is none."""
    from hwdiff.data.shipped import read_npz

    path = transfer_path(space)
    if not path.exists():
        raise HwdiffError(f"no few-shot latency model ships for space {space!r}; a maintainer makes one with "
                          f"`python -m tools.fit_latency_transfer --space {space}`")
    return TransferModel.from_arrays(read_npz(path, "few-shot latency model"), str(path))


def fit_transfer_model(space: str, sources: Mapping[str, tuple[Sequence[str], Sequence[float]]],
                       reference: Sequence[str] | None = None) -> TransferModel:
    """Learn the basis and the head prior from ``sources`` (device -> measured archs and latencies in ms).

    ``reference``: the architectures the basis is centred and scaled over (default: every arch measured
    on any source device).
    """
    if len(sources) < 2:
        raise HwdiffError(f"a few-shot latency model needs at least 2 source devices, got {len(sources)}")
    features = space_features(space)
    # Devices measured on the same archs (every nb201 table) share one feature matrix and one solve.
    groups: dict[tuple[str, ...], list[str]] = {}
    for device, (archs, _) in sources.items():
        groups.setdefault(tuple(archs), []).append(device)
    coefs: dict[str, np.ndarray] = {}
    for archs, devices in groups.items():
        phi = feature_matrix(features, archs)
        y = np.log(np.stack([np.asarray(sources[d][1], dtype=np.float64) for d in devices], axis=1))
        penalty = SOURCE_RIDGE * np.eye(phi.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        solved = np.linalg.solve(phi.T @ phi + penalty, phi.T @ y)
        coefs.update({d: solved[:, i] for i, d in enumerate(devices)})
    b = np.stack([coefs[d] for d in sources], axis=1)  # [F, D]
    if reference is None:
        reference = list(dict.fromkeys(a for archs, _ in sources.values() for a in archs))
    phi_ref = feature_matrix(features, reference)
    g = phi_ref @ b
    g_bar = g.mean(axis=0)
    _, s, vt = np.linalg.svd(g - g_bar, full_matrices=False)
    keep = s > 1e-8 * s[0]
    s, v = s[keep], vt[keep].T  # [K], [D, K]
    n = len(reference)
    projection = b @ v / s * np.sqrt(n)
    basis_offset = (phi_ref @ projection).mean(axis=0)
    heads = v * s / np.sqrt(n)
    return TransferModel(space=space, features_version=features.version, source_devices=tuple(sources),
                         projection=projection, basis_offset=basis_offset, source_heads=heads,
                         source_offsets=g_bar, reference_archs=n)
