"""Why do the short rows of `smclab seed` (far-store, sb1 far: a few ns per iteration) spread?

Times the far-store loop (64-byte rep movsb into data, call the slot) two ways, interleaved in
rounds on one CPU: the plain C reference of ``benchmarks/ref/seed_ref.c`` (``-v far``) and
``smclab run --store far``, both with the same iterations and repeats, at several repeat
lengths (the calibration-length question: 2, 20 and 80 ms a repeat by default). Per length it
prints each side's spread over the rounds ((max - min) / median of the per-round medians) and
their ratio (the target: smclab within 2x of the C loop), then the spread of the far-store
and sb1 far rows of one ``smclab seed --json`` and the load measured beside them (other tasks'
share of the CPU, preemptions: what the seed table names as the cause of a spread).

    python benchmarks/short_rows.py [--lengths-ms 2,20,80] [--rounds 9] [--cpu N] [--json]

A benchmark, not a test: exit 0 unless the reference does not build.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fidelity  # noqa: E402  (the C reference's build and runners, shared)

#: smclab's spread may be at most this many times the C loop's
SPREAD_RATIO_TARGET = 2.0
FAR = fidelity.CONFIGS["far-store"]


def measure(args: argparse.Namespace, smclab: list[str], db: str) -> list[dict[str, Any]]:
    probe: dict[str, Any] | None
    probe, _ = fidelity.run_json(
        smclab + ["run", "--json", "--db", db, "--store", "far", "--repeats", "1"]
    )
    ns = float((probe or {}).get("ns_per_iter", {}).get("median") or 5.0)
    out = []
    for ms in args.lengths:
        n = max(1000, int(ms * 1e6 / ns))
        ref, sm = fidelity.Measured(), fidelity.Measured()
        for rnd in range(args.rounds):
            sides = ["c", "smclab"]
            random.shuffle(sides)  # a fresh order each round
            for side in sides:
                if side == "c":
                    fidelity.run_ref(FAR, n, args.repeats, args.cpu, 0, ref, rnd)
                else:
                    fidelity.run_smclab(smclab, FAR, n, args.repeats, args.cpu, db, sm, rnd)
        c, s = ref.round_spread, sm.round_spread
        ci, si = ref.round_iqr, sm.round_iqr
        out.append(
            {
                "ms_per_repeat": ms,
                "iterations": n,
                "c_ns": ref.ns_median,
                "smclab_ns": sm.ns_median,
                "c_spread": c,
                "smclab_spread": s,
                "spread_ratio": s / c if c and s is not None else None,
                "c_iqr": ci,
                "smclab_iqr": si,
                "iqr_ratio": si / ci if ci and si is not None else None,
                "c_rounds_ns": ref.ns,
                "smclab_rounds_ns": sm.ns,
                "errors": ref.errors + sm.errors,
            }
        )
    return out


def seed_rows(smclab: list[str], db: str) -> list[dict[str, Any]]:
    data, err = fidelity.run_json(smclab + ["seed", "--json", "--db", db])
    if data is None:
        return [{"name": "seed", "error": err}]
    rows = []
    for r in data.get("rows", []):
        if r["name"] in ("far-store", "sb1 far", "4K/0"):
            n = r.get("noise") or {}
            rows.append(
                {
                    "name": r["name"],
                    "ns": (r.get("ns_per_iter") or {}).get("median"),
                    "spread": (r.get("ticks_per_iter") or {}).get("spread"),
                    "other_cpu_pct": n.get("other_cpu_pct"),
                    "steal_pct": n.get("steal_pct"),
                    "preemptions": n.get("ctx_switches"),
                }
            )
    return rows


def show(report: dict[str, Any]) -> None:
    console = Console(width=100)
    t = Table(
        title=f"far-store, C loop vs smclab (cpu {report['cpu']}, {report['rounds']} rounds,"
        f" {report['repeats']} repeats a run)"
    )
    for col in ("ms/rep", "iterations", "C ns/it", "smclab", "C range", "smclab"):
        t.add_column(col, justify="right")
    t.add_column(f"ratio (<= {SPREAD_RATIO_TARGET:g})", justify="right")
    for col in ("C IQR", "smclab"):
        t.add_column(col, justify="right")
    t.add_column(f"ratio (<= {SPREAD_RATIO_TARGET:g})", justify="right")
    f = fidelity.fmt
    for r in report["lengths"]:
        t.add_row(
            f"{r['ms_per_repeat']:g}",
            str(r["iterations"]),
            f(r["c_ns"]),
            f(r["smclab_ns"]),
            f(r["c_spread"], ".1%"),
            f(r["smclab_spread"], ".1%"),
            f(r["spread_ratio"]),
            f(r["c_iqr"], ".1%"),
            f(r["smclab_iqr"], ".1%"),
            f(r["iqr_ratio"]),
        )
    console.print(t)
    s = Table(title="smclab seed: the short rows and the load beside them")
    for col in ("row", "ns/it", "spread", "other tasks", "steal", "preemptions"):
        s.add_column(col, justify="left" if col == "row" else "right")
    for r in report["seed"]:
        if "error" in r:
            console.print(f"smclab seed failed: {r['error']}")
            continue
        s.add_row(
            r["name"],
            f(r["ns"]),
            f(r["spread"], ".1%"),
            f(r["other_cpu_pct"], ".0f") + "%",
            f(r["steal_pct"], ".0f") + "%",
            str(r["preemptions"]),
        )
    console.print(s)
    for r in report["lengths"]:
        for side in ("c", "smclab"):
            values = " ".join(f"{v:.2f}" for v in r[f"{side}_rounds_ns"])
            console.print(f"{r['ms_per_repeat']:g} ms, {side} ns/it by round: {values}")
    console.print(
        "range: (max - min) / median of the per-round medians; IQR: their interquartile range"
        " / median (one odd round moves it little); ratio: smclab's over the C loop's, both"
        " timed the same way in the same rounds"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths-ms", default="2,20,80", help="ms per repeat (comma-separated)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.lengths = [float(x) for x in args.lengths_ms.split(",") if x]
    err = fidelity.build()
    if err:
        raise SystemExit(f"the C reference does not build: {err}")
    smclab = fidelity.default_smclab().split()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "short.sqlite")
        report = {
            "cpu": args.cpu,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "lengths": measure(args, smclab, db),
            "seed": seed_rows(smclab, db),
        }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)


if __name__ == "__main__":
    main()
