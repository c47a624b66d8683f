"""``hwdiff search --verify K``: measure the top K returned networks on the device, beside their predictions.

A search ranks networks by the profile's *predicted* latency; verifying times the top K on the
device itself, locally or on the board behind ``--remote``, exactly as the profile's own networks
were timed (``hardware/networks.py``: same backend, precision, batch, threads, rounds and timing
settings, read from the profile's provenance; the device spec's defaults for an imported profile).
Those over the latency budget when measured are marked and dropped; the verification reports the
measured feasible share and the prediction error per network.

``prepare_verification`` checks everything that can fail before the search trains anything: the
device must be one hwdiff runs networks on and be this machine (or the board), and a profile
measured on some machine is verified on the same hardware only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwdiff.errors import HwdiffError, check_range

if TYPE_CHECKING:  # loaded when a verification is prepared: the request is built while parsing a command line
    from hwdiff.hardware.networks import NetworkRun
    from hwdiff.hardware.profiles import Profile
    from hwdiff.hardware.remote_networks import RemoteNetworks
    from hwdiff.search.search import SearchResult

DEFAULT_VERIFY = 10  # `--verify` without a number


@dataclass(frozen=True)
class VerifyRequest:
    """Measure the top ``top`` networks a search returns, here or on ``remote`` (``ssh://user@host[:port]``)."""

    top: int = DEFAULT_VERIFY
    remote: str | None = None
    identity: Path | None = None  # private key for ``remote``
    remote_python: str | None = None  # the board's Python that has hwdiff (default python3)

    def __post_init__(self) -> None:
        from hwdiff.hardware.networks import MAX_NETWORKS

        check_range("--verify", self.top, 1, MAX_NETWORKS, " networks")


@dataclass
class VerifiedNetwork:
    arch: str
    predicted_ms: float
    measured_ms: float
    rounds: list[dict[str, Any]]
    within_budget: bool | None  # measured within the latency budget; None without one

    @property
    def error_pct(self) -> float:
        """(measured - predicted) / predicted, in percent."""
        return 100.0 * (self.measured_ms - self.predicted_ms) / self.predicted_ms

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch, "predicted_ms": self.predicted_ms, "measured_ms": self.measured_ms,
                "error_pct": round(self.error_pct, 3), "within_budget": self.within_budget, "rounds": self.rounds}


@dataclass
class Verification:
    """What measuring the top networks on the device found."""

    top: int
    where: str  # "this machine (HOST)" or the board's ssh URL and host
    run: NetworkRun
    setup_source: str  # whose measurement setup was reused
    budget_ms: float | None
    networks: list[VerifiedNetwork] = field(default_factory=list)
    versions: dict[str, Any] = field(default_factory=dict)
    load_average: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> list[str]:
        return [n.arch for n in self.networks if n.within_budget is False]

    @property
    def feasible_share(self) -> float | None:
        """Share of the measured networks within the budget when measured (None: no budget or nothing measured)."""
        if self.budget_ms is None or not self.networks:
            return None
        return sum(bool(n.within_budget) for n in self.networks) / len(self.networks)

    def to_json(self) -> dict[str, Any]:
        errors = [abs(n.error_pct) for n in self.networks]
        return {"top": self.top, "measured": len(self.networks), "where": self.where, "run": self.run.to_json(),
                "setup_source": self.setup_source, "budget_ms": self.budget_ms,
                "feasible_share": self.feasible_share, "dropped": self.dropped,
                "mape": sum(errors) / len(errors) if errors else None,
                "networks": [n.to_json() for n in self.networks], "versions": self.versions,
                "load_average": self.load_average}


class Verifier:
    """A verification checked and ready: ``prepare_verification`` makes one before the search, ``verify`` after."""

    def __init__(self, request: VerifyRequest, run: NetworkRun, setup_source: str, board: RemoteNetworks | None):
        self.request, self.run, self.setup_source, self.board = request, run, setup_source, board

    @property
    def where(self) -> str:
        if self.board is None:
            import platform

            return f"this machine ({platform.node()})"
        return f"{self.board.remote.target.url} ({self.board.board.host})"

    def verify(self, result: SearchResult, top: int,
               progress: Callable[[int, int, str], None] | None = None) -> Verification:
        """Measure the first ``request.top`` candidates of ``result``; drop those over the budget from
        ``result.candidates`` (then keep its first ``top``) and attach the verification to ``result``."""
        picked = result.candidates[:self.request.top]
        budget = result.constraints.latency_ms
        verification = Verification(top=self.request.top, where=self.where, run=self.run,
                                    setup_source=self.setup_source, budget_ms=budget)
        if picked:
            from hwdiff.hardware.networks import NetworkTiming, measure_networks

            archs = [c.arch for c in picked]
            doc = self.board.measure(archs, progress) if self.board else measure_networks(self.run, archs, progress)
            timings = [NetworkTiming(**n) for n in doc["networks"]]
            verification.networks = [
                VerifiedNetwork(c.arch, c.latency_ms, t.measured_ms, t.rounds,
                                None if budget is None else t.measured_ms <= budget)
                for c, t in zip(picked, timings)]
            verification.versions, verification.load_average = doc["versions"], doc["load_average"]
        dropped = set(verification.dropped)
        result.candidates = [c for c in result.candidates if c.arch not in dropped][:top]
        result.verification = verification
        return verification


def prepare_verification(profile: Profile, dataset: str, request: VerifyRequest) -> Verifier:
    """Check that the top networks can be measured on ``profile``'s device (here, or on ``request.remote``)
    with the profile's measurement setup; one ``HwdiffError`` line otherwise, before anything runs."""
    from hwdiff.hardware.networks import setup_of_profile

    setup = setup_of_profile(profile)
    source = (f"profile {profile.name}'s measurement" if setup["backend"] else
              f"device {profile.device}'s spec (profile {profile.name} records no measurement setup)")
    options = {"space": profile.space, "dataset": profile.dataset or dataset, **setup}
    board = None
    try:
        if request.remote is None:
            from hwdiff.hardware.networks import plan_network_run, this_machine

            run, machine, host = plan_network_run(profile.device, **options), this_machine(), "this machine"
        else:
            from hwdiff.hardware.remote_networks import RemoteNetworks
            from hwdiff.hardware.ssh import Remote

            remote = Remote(request.remote, identity=request.identity, python=request.remote_python)
            board = RemoteNetworks.prepare(remote, profile.device, options)
            run, machine, host = board.run, board.machine, f"{remote.target.destination} ({board.board.host})"
    except HwdiffError as exc:
        raise HwdiffError(f"--verify: {exc}") from None
    _check_same_hardware(profile, machine, host)
    return Verifier(request, run, source, board)


def _check_same_hardware(profile: Profile, machine: list[Any], host: str) -> None:
    """A profile measured on some hardware is verified on that hardware, not on another machine of its name."""
    from hwdiff.hardware.facts import machine_identity

    facts = (profile.provenance or {}).get("facts_before")
    if not isinstance(facts, dict):
        return  # imported or shipped: no record of the machine
    measured = machine_identity(facts)
    if measured != machine:
        raise HwdiffError(f"--verify: profile {profile.name} was measured on CPU {measured[0]!r}, GPUs {measured[1]} "
                          f"(host {facts.get('host')}), and {host} has CPU {machine[0]!r}, GPUs {machine[1]}: verify "
                          "on the machine that was measured (--remote ssh://user@host)")
