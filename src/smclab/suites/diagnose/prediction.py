"""Prediction: does the front end fetching the predicted target make the store cost more?

A moving target (4K ring, step 64, the store into the slot about to be called) is reached by a
predictable call (``call r13``, or ``call rel32`` to each slot with the loop unrolled) and by an
unpredictable one (a retpoline: the return is predicted into a pause/lfence trap, so fetch
cannot run ahead into the slot). Each call kind also stores into data (far-store) so its own
cost is taken out: the SMC penalty of a kind is (exec - far-store) of that kind.

Then the store is followed by ``serialize`` (``mfence+lfence`` where the CPU has none) and a
chain of dependent ``imul`` the call target depends on: if the penalty survives, the store is
done and the call waited, so it is more than a clear of instructions in flight.
"""

from __future__ import annotations

from smclab.model.result import Stats
from smclab.model.stats import comparison, confidence, differs, net, no_difference

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 50
PREDICTED = ("indirect", "direct")
KINDS = (*PREDICTED, "retpoline")
#: the barrier after the store, in order of preference (the first the CPU has is reported)
SERIALIZERS = ("serialize", "mfence+lfence")
CHAIN = 200
NAMES = {"indirect": "call r13", "direct": "call rel32 (unrolled)", "retpoline": "retpoline"}
MOVING = {"step": 64, "layout": "near"}


def points(quick: bool) -> list[PlanPoint]:
    out = []
    for c in KINDS:
        out += [
            pp(f"{c} moving", 64, c, call=c, **MOVING),
            pp(f"{c} moving far-store", 64, c, call=c, store="far", **MOVING),
        ]
    out.append(pp("no-store moving", 64, "no-store", store="none", **MOVING))
    for b in SERIALIZERS:
        for c in KINDS:
            slow = {"barrier": b, "chain": CHAIN}
            out += [
                pp(f"{c} moving {b}+chain", 64, c, call=c, **slow, **MOVING),
                pp(f"{c} moving far-store {b}+chain", 64, c, call=c, store="far", **slow, **MOVING),
            ]
    out += [pp(f"{c} fixed", 0, c, call=c, layout="near") for c in KINDS]
    if not quick:
        out += [pp(f"{c} moving", 64, c, call=c, **MOVING) for c in ("jmp", "push-ret")]
    return out


def _netted(pts: dict[str, Measured], kind: str, suffix: str = "") -> Stats | None:
    """The kind's exec point with its own cost (far-store of the kind) replaced by call r13's
    far-store: comparable with ``indirect moving{suffix}``, penalty against penalty."""
    ex, far = pts.get(f"{kind} moving{suffix}"), pts.get(f"{kind} moving far-store{suffix}")
    ref = pts.get(f"indirect moving far-store{suffix}")
    if not (ex and far and ref):
        return None
    return net(ex.ticks, far.ticks, ref.ticks)


def _pen(pts: dict[str, Measured], kind: str, suffix: str = "") -> float | None:
    ex, far = pts.get(f"{kind} moving{suffix}"), pts.get(f"{kind} moving far-store{suffix}")
    return ex.ticks.median - far.ticks.median if ex and far else None


def _prediction(pts: dict[str, Measured]) -> list[Finding]:
    ind = pts.get("indirect moving")
    ret = _netted(pts, "retpoline")
    pens = {k: _pen(pts, k) for k in KINDS}
    if not ind or ret is None or pens["indirect"] is None or pens["retpoline"] is None:
        return []
    nums: dict[str, object] = {"penalty": pens}
    cells = ", ".join(f"{NAMES[k]} {v:.0f}" for k, v in pens.items() if v is not None)
    lower = differs(ret, ind.ticks) and ret.median < ind.ticks.median
    higher = differs(ret, ind.ticks) and ret.median > ind.ticks.median
    direct = _netted(pts, "direct")
    also = direct is None or (differs(ret, direct) and ret.median < direct.median)
    if lower and also:
        text = (
            "With a moving target the SMC penalty (each kind's loop minus the same loop storing"
            f" into data) is {cells} ticks/iter: the unpredicted call pays far less. What the"
            " front end fetches ahead along the predicted path (the slot about to be rewritten)"
            " is what makes the store cost; a retpoline keeps fetch away from it."
        )
        conf = confidence((ret, ind.ticks), *([(ret, direct)] if direct is not None else []))
    elif lower:
        text = (
            f"With a moving target the SMC penalty is {cells} ticks/iter: the retpoline pays"
            " less than call r13 but not less than the unrolled call rel32."
        )
        conf = confidence((ret, ind.ticks))
    elif higher:
        text = (
            f"With a moving target the SMC penalty is {cells} ticks/iter: the unpredicted call"
            " pays more, so fetching the predicted target is not what costs here."
        )
        conf = confidence((ret, ind.ticks))
    else:
        text = (
            f"With a moving target the SMC penalty is {cells} ticks/iter: whether the call is"
            " predicted changes nothing measurable here."
        )
        conf = no_difference(ind.ticks, ret)
    none_ = pts.get("no-store moving")
    if none_:
        nums["no_store_ticks"] = none_.ticks.median
        text += f" Without any store the moving call r13 loop costs {none_.ticks.median:.0f}."
    bm = ind.per_iter.get("branch-misses")
    if bm is not None:
        text += f" Branch misses (call r13): {bm:.2f}/iter."
    deciding = [("retpoline against call r13", ret, ind.ticks)]
    if direct is not None:
        deciding.append(("retpoline against call rel32", ret, direct))
    return [Finding("prediction", text, conf, nums, unstable=base.unsettled(deciding))]


def _serialized(pts: dict[str, Measured]) -> list[Finding]:
    b = next((b for b in SERIALIZERS if f"indirect moving {b}+chain" in pts), None)
    if b is None:
        return []
    suffix = f" {b}+chain"
    out = []
    for kind in PREDICTED:
        ex = pts.get(f"{kind} moving{suffix}")
        far = pts.get(f"{kind} moving far-store{suffix}")
        plain = _pen(pts, kind)
        if not (ex and far):
            continue
        pen = ex.ticks.median - far.ticks.median
        nums = {"barrier": b, "chain": CHAIN, "penalty": pen, "penalty_without": plain}
        what = f"{b} and {CHAIN} dependent imuls the call target waits for"
        before = f" (without them: {plain:.0f})" if plain is not None else ""
        if differs(ex.ticks, far.ticks) and pen > 0:
            text = (
                f"With {NAMES[kind]}, a moving target and {what} between the store and the"
                f" call, the store into the slot still costs {pen:.0f} ticks/iter over the same"
                f" loop storing into data{before}: the store has completed and the call waited,"
                " so the cost is more than a clear of instructions in flight."
            )
            conf = confidence((ex.ticks, far.ticks))
        else:
            c = comparison(ex.ticks, far.ticks)
            interval = (
                f"; the rounds put the ratio at {c.low:.2f}-{c.high:.2f}" if c is not None else ""
            )
            settled = c is not None and c.same
            text = (
                f"With {NAMES[kind]}, a moving target and {what} between the store and the"
                f" call, the rounds show no cost of the store into the slot over the same loop"
                f" storing into data ({ex.ticks.median:.0f} vs {far.ticks.median:.0f}"
                f" ticks/iter{before}{interval}): "
                + (
                    "what is left, if anything, is within 5% of the loop."
                    if settled
                    else "a cost of this size may hide in the noise; these data do not tell"
                    " whether anything is left."
                )
            )
            nums["settled"] = settled
            conf = no_difference(ex.ticks, far.ticks)
        why = base.unsettled([(f"{NAMES[kind]} against its data loop", ex.ticks, far.ticks)])
        out.append(Finding("prediction", text, conf, nums, unstable=why))
    return out


def _fixed(pts: dict[str, Measured]) -> list[Finding]:
    ind = pts.get("indirect fixed")
    if not ind:
        return []
    others = [(k, pts[f"{k} fixed"]) for k in KINDS[1:] if f"{k} fixed" in pts]
    cells = ", ".join(f"{NAMES[k]} {p.ticks.median:.0f}" for k, p in [("indirect", ind), *others])
    moved = [(k, p) for k, p in others if differs(p.ticks, ind.ticks)]
    nums = {k: p.ticks.median for k, p in [("indirect", ind), *others]}
    if not moved:
        return [
            Finding(
                "prediction",
                f"With a fixed target the call kind changes nothing measurable ({cells}"
                " ticks/iter).",
                no_difference(*(p.ticks for _, p in [("indirect", ind), *others])),
                nums,
            )
        ]
    return [
        Finding(
            "prediction",
            f"With a fixed target the call kind matters: {cells} ticks/iter.",
            confidence(*((p.ticks, ind.ticks) for _, p in moved)),
            nums,
        )
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    return [*_prediction(pts), *_serialized(pts), *_fixed(pts)]


PROBE = ProbeSpec(
    "prediction",
    "Prediction: predicted and unpredicted calls to a moving target, with serialize + chain",
    points,
    findings,
    Bars(ref="indirect moving far-store"),
)
