"""The consistency check at the end of `diagnose`: what the findings predict, checked against
measured points they were not computed from; a contradiction is printed as such.

* The same experiment measured by two probes (the seed loop is in penalty, barriers and
  stores; code-age's 4K ring at A = 0 in prediction): both are one host's measurement of one
  loop, and their medians must agree within both spreads and :data:`AGREE` (else the host
  shifted between the probes, and the findings that compare across them are suspect).
* The store model the stores finding chose predicts every store pattern within its tolerance.
* The seed's copy explained by that model: the penalty probe's loss against the model's count.
* The write-ahead distance of the code-age finding, against advise's confirmed best (with
  ``--workload``): a candidate written at least that far ahead should come near its floor, and
  one that reaches the floor closer than that says the distance is too large.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from smclab.model.stats import differs

from . import stores as stores_probe
from .base import Diagnosis, Measured, measured

if TYPE_CHECKING:
    from smclab.suites.advise import Advice

#: the same experiment in two probes agrees when its medians are within this factor
AGREE = 1.5
#: a store pattern contradicts the chosen model when it is off by more than this many
#: tolerances
OFF = 2.0
#: advise's best "near its floor": within this factor
NEAR_FLOOR = 1.5


@dataclass(frozen=True)
class Check:
    """One prediction checked against measured points."""

    probe: str
    claim: str  # what the findings predict
    holds: bool
    evidence: str  # what was measured

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _replicates(d: Diagnosis) -> list[Check]:
    seen: dict[str, tuple[str, Measured]] = {}
    series: dict[str, set[str | None]] = {}
    out = []
    for pr in d.probes:
        for p in measured(pr.points):
            key = p.experiment.knob_key()
            # a series seen for this code already: one interleaved run measures a code once,
            # so this is a result read again (a probe newer than a recorded run takes its
            # controls from another probe's sweep), no replicate
            again = p.ticks.series is not None and p.ticks.series in series.get(key, set())
            series.setdefault(key, set()).add(p.ticks.series)
            if key not in seen:
                seen[key] = (pr.probe.name, p)
                continue
            other, q = seen[key]
            if other == pr.probe.name or again:
                continue
            lo, hi = sorted((p.ticks.median, q.ticks.median))
            holds = hi <= AGREE * lo or not differs(p.ticks, q.ticks)
            out.append(
                Check(
                    pr.probe.name,
                    f"{p.experiment.label()} costs the same in {other} and {pr.probe.name}",
                    holds,
                    f"{q.ticks.median:.0f} vs {p.ticks.median:.0f} ticks/iter",
                )
            )
    return out


def _stores(d: Diagnosis) -> list[Check]:
    pr = next((pr for pr in d.probes if pr.probe.name == "stores"), None)
    if pr is None:
        return []
    out = []
    for kind, f in stores_probe.fits(pr.points).items():
        m = f.chosen
        if m is None:
            continue
        bad = [o for o in f.observations if abs(o.penalty - m.predict(o)) > OFF * f.tolerance]
        worst = max(f.observations, key=lambda o: abs(o.penalty - m.predict(o)))
        out.append(
            Check(
                "stores",
                f"the {m.model} model predicts every pattern of the {stores_probe.KINDS[kind]}",
                not bad,
                (
                    f"off by more than {OFF:g}x its tolerance ({f.tolerance:.0f}): "
                    + ", ".join(f"{o.label} {o.penalty:.0f} vs {m.predict(o):.0f}" for o in bad)
                    if bad
                    else f"the farthest, {worst.label}: {worst.penalty:.0f} vs"
                    f" {m.predict(worst):.0f} ticks/iter"
                ),
            )
        )
    seed = next((f for f in d.findings if "seed_penalties_model" in f.numbers), None)
    lost = next((f for f in d.findings if "lost_ticks" in f.numbers), None)
    if seed is not None and lost is not None:
        predicted = seed.numbers["seed_predicted_ticks"]
        got = lost.numbers["lost_ticks"]
        ratio = got / predicted if predicted else float("inf")
        out.append(
            Check(
                "penalty",
                "the store model explains the seed loop's penalty (within 2x)",
                0.5 <= ratio <= 2,
                f"penalty probe {got:.0f} ticks/iter, model {predicted:.0f} ({ratio:.2f}x)",
            )
        )
    return out


def _advice(d: Diagnosis, advised: Iterable[Advice]) -> list[Check]:
    fresh = next(
        (f for f in d.findings if f.probe == "code-age" and "ahead_bytes" in f.numbers), None
    )
    if fresh is None:
        return []
    distance = fresh.numbers["ahead_bytes"]
    out = []
    for a in advised:
        best = next((e for e in a.entries if e.ok and e.fresh and e.verdict == "helps"), None)
        if best is None or best.experiment.step == 0:
            continue
        ahead, near = best.experiment.ahead, best.to_floor <= NEAR_FLOOR
        where = f"advise's best ({best.id}, {ahead} B ahead) is {best.to_floor:.2f}x its floor"
        if distance is None:
            out.append(
                Check(
                    "code-age",
                    "no write-ahead distance measured removes the cost",
                    not near,
                    where,
                )
            )
        elif ahead >= distance:
            out.append(
                Check(
                    "code-age",
                    f"writing {distance} B or more ahead brings the loop near its floor",
                    near,
                    where,
                )
            )
        else:
            out.append(
                Check(
                    "code-age",
                    f"writing less than {distance} B ahead still costs",
                    not near,
                    where,
                )
            )
    return out


def summary(checks: Sequence[Check]) -> str:
    """What the check did, in one line: how many predictions, how many contradicted."""
    n, bad = len(checks), sum(not c.holds for c in checks)
    return (
        f"{n} prediction{'' if n == 1 else 's'} of the findings checked against measured points"
        f" they did not come from; {bad} contradicted"
    )


def check(d: Diagnosis, advised: Sequence[Advice] = ()) -> list[Check]:
    """Every prediction of ``d``'s findings checked against points they did not come from."""
    return [*_replicates(d), *_stores(d), *_advice(d, advised)]
