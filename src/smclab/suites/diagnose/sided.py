"""A change to the store (a *case*) against the same loop without it (its *control*), each
measured into the executed line and into data memory (the same offset of a data buffer).

Into data the case's extra is a cost of the store side alone (no code is modified there); into
the executed line the case net of that data-side extra, against the control, says whether the
case changes the SMC penalty itself. A direction is named only where the paired rounds support
it (:func:`~smclab.model.stats.differs`), else "no consistent effect"; a comparison whose
rounds do not settle it labels the finding unstable (:func:`.base.unsettled`). Used by the
probes of store-side costs (``split-store``, ``line-flush``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smclab.model.result import Stats
from smclab.model.stats import comparison, confidence, differs, net, no_difference

from . import base
from .base import Fact, FactsFn, Finding, Host, Measured, Point

#: a point's data control: the same knobs with ``store='far'``, labelled with this suffix
FAR = " far"


def effect(a: Stats, b: Stats) -> str:
    """How ``a`` compares with ``b``: 'higher' or 'lower' where the rounds support a
    difference, else 'none'."""
    if not differs(a, b):
        return "none"
    return "higher" if a.median > b.median else "lower"


def versus(a: Stats, b: Stats, than: str) -> str:
    """``a`` against ``b`` (named ``than``) in words: "N more than ...", "N less than ..." or
    "no consistent effect against ..."."""
    e = effect(a, b)
    if e == "none":
        return f"no consistent effect against {than}"
    return f"{abs(a.median - b.median):.0f} {'more' if e == 'higher' else 'less'} than {than}"


@dataclass(frozen=True)
class Sided:
    """A case and its control, each into the executed line and into data."""

    at: Measured
    at_control: Measured
    far: Measured
    far_control: Measured

    @property
    def net(self) -> Stats:
        """The case into the executed line net of its extra into data (at - far + far
        control, round by round): against the control it tests the SMC penalty itself."""
        return net(self.at.ticks, self.far.ticks, self.far_control.ticks)


def sided(pts: dict[str, Measured], case: str, control: str) -> Sided | None:
    """The four points of ``case`` and ``control`` (labels; their data controls carry
    :data:`FAR`), or None when one of them was not measured."""
    a, ac, f, fc = (pts.get(x) for x in (case, control, case + FAR, control + FAR))
    if a is None or ac is None or f is None or fc is None:
        return None
    return Sided(a, ac, f, fc)


def finding(
    probe: str,
    s: Sided,
    what: str,
    control: str,
    short: str,
    detail: str = "",
    more_pairs: tuple[tuple[str, Stats, Stats], ...] = (),
) -> Finding:
    """The finding of one case: its cost into data against ``control`` (the headline), then
    into the executed line and what is left of the SMC penalty. ``what``: the case as the
    sentence's subject; ``short``: its short name; ``detail``: a sentence appended;
    ``more_pairs``: further comparisons the detail decides on (name, a, b)."""
    far, far_c = s.far.ticks, s.far_control.ticks
    at, at_c = s.at.ticks, s.at_control.ticks
    data = effect(far, far_c)
    extra = far.median - far_c.median
    pen, pen_c = at.median - far.median, at_c.median - far_c.median
    on_penalty = effect(s.net, at_c)
    c = comparison(s.net, at_c)
    same = on_penalty == "none" and c is not None and c.same
    if data == "none":
        text = (
            f"{what} has no consistent effect against {control}, into data"
            f" ({far.median:.0f} vs {far_c.median:.0f} ticks/iter)."
        )
        conf = no_difference(far, far_c)
    else:
        text = (
            f"{what} costs {abs(extra):.0f} ticks/iter {'more' if extra > 0 else 'less'} than"
            f" {control}, into data ({far.median:.0f} vs {far_c.median:.0f})."
        )
        conf = confidence((far, far_c))
    text += (
        f" Into the executed line: {at.median:.0f} vs {at_c.median:.0f}"
        f" ({at.median - at_c.median:+.0f}); the SMC penalty (each over its data control)"
        f" {pen:.0f} with {short} against {pen_c:.0f} without"
    )
    if on_penalty == "higher":
        text += f": {short} adds to the penalty itself, beyond its cost into data."
    elif on_penalty == "lower":
        faster = effect(at, at_c) == "lower"
        text += f": smaller, part of the penalty overlaps {short}'s own cost" + (
            " (the loop is faster with it)." if faster else "; the loop is not faster."
        )
    elif same and data != "none":
        text += ": the same; a store-side cost, not an SMC one."
    elif same:
        text += ": the same."
    else:
        text += ", no consistent effect."
    if detail:
        text += f" {detail}"
    nums: dict[str, Any] = {
        "data_ticks": far.median,
        "data_control_ticks": far_c.median,
        "data_effect": data,
        "exec_ticks": at.median,
        "exec_control_ticks": at_c.median,
        "penalty_ticks": pen,
        "control_penalty_ticks": pen_c,
        "penalty_effect": "same" if same else on_penalty,
        # what the atlas reads: the extra into data, where the rounds support one
        "store_side_ticks": extra if data != "none" else None,
    }
    pairs = [(f"{short} into data", far, far_c), (f"the penalty with {short}", s.net, at_c)]
    return Finding(probe, text, conf, nums, unstable=base.unsettled([*pairs, *more_pairs]))


def facts(name: str) -> FactsFn:
    """A probe's facts: fact ``name``, the extra ticks into data its finding states (none
    where the rounds show no consistent effect); the evidence is the data points."""

    def read(found: list[Finding], points: list[Point], host: Host) -> list[Fact]:
        ev = base.labels(points, lambda s: s.endswith(FAR))
        keys = {name: ("store_side_ticks", "ticks")}
        return [x for f in found for x in base.from_numbers(f, keys, ev)]

    return read
