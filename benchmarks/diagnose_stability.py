"""Do repeated `smclab diagnose` runs on one host reach the same conclusions?

Runs ``smclab diagnose --json`` N times in a row (each into its own store, as a user would),
then compares the findings' *conclusions*: a finding's text without its evidence (the
parentheses, the measured pairs, the lists of sizes) and with every number replaced by ``#``
(so "falls to its control from 256 B" and "from 4096 B" are one conclusion with different
numbers, while "lowers" and "no consistent effect" are two), keyed by probe. Prints, per
probe, the conclusions not reached by every run, whether the runs that reached them labelled
them unstable, and the headline numbers that moved (write-ahead distance, store model,
penalty). Also prints each run's consistency-check contradictions.

    python benchmarks/diagnose_stability.py [--runs 3] [--quick] [--probe NAME ...] [--json]
        [--keep DIR]        # keep each run's store (DIR/runN.sqlite)
    python benchmarks/diagnose_stability.py --from DIR   # measure nothing: recompute the
                            # findings of the kept runs with today's probes and compare them

A benchmark, not a test: exit 0 however much the runs disagree (1 if a run fails).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

NUMBER = re.compile(r"[−-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
PAREN = re.compile(r"\s*\([^()]*\)")
#: a cell of evidence ("4M A=0: 152 vs 246", "4K: 30 vs 8") and a size or list ("16K, 32K")
_CELL = r"(?:#[KMB]?(?: A=#)?|[\w@+.-]+): # vs #"
CELLS = re.compile(rf"{_CELL}(?:; {_CELL})*")
SIZES = re.compile(r"#[KMB]?(?:, #[KMB]?)*")
#: the numbers shown beside the conclusions: (probe, key in the finding's numbers)
HEADLINES = (
    ("penalty", "lost_ticks"),
    ("stores", "model"),
    ("code-age", "ahead_bytes"),
    ("barriers", "faster_in_total"),
    ("cross-modifying", "consistent_trend"),
)


def conclusion(text: str) -> str:
    """What a finding concludes: its text without the evidence in parentheses, its numbers
    (``#``), the cells of measured pairs and the lists of sizes it names."""
    while PAREN.search(text):
        text = PAREN.sub("", text)
    text = NUMBER.sub("#", text)
    return SIZES.sub("#", CELLS.sub("…", text))


def run_once(args: argparse.Namespace, db: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "smclab", "diagnose", "--json", "--db", str(db)]
    cmd += ["--quick"] if args.quick else []
    for p in args.probe:
        cmd += ["--probe", p]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if p.returncode != 0:
        raise SystemExit(f"diagnose failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def recompute(db: Path, timeout: float) -> dict[str, Any]:
    """The findings of the diagnose run stored in ``db``, recomputed by today's probes."""
    cmd = [sys.executable, "-m", "smclab", "diagnose", "--json", "--db", str(db)]
    p = subprocess.run(
        cmd + ["--recorded", "last"], capture_output=True, text=True, timeout=timeout
    )
    if p.returncode != 0:
        raise SystemExit(f"{db}: diagnose --recorded failed: {p.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per probe: every conclusion with the runs that reached it and labelled it unstable."""
    seen: dict[tuple[str, str], dict[str, list[int]]] = {}
    for i, r in enumerate(runs):
        for f in r["findings"]:
            key = (f["probe"], conclusion(f["text"]))
            entry = seen.setdefault(key, {"runs": [], "unstable": []})
            entry["runs"].append(i + 1)
            if f.get("unstable"):
                entry["unstable"].append(i + 1)
    disagree = [
        {"probe": p, "conclusion": c, **v}
        for (p, c), v in seen.items()
        if len(v["runs"]) < len(runs)
    ]
    headlines = {
        f"{probe}.{key}": [
            next(
                (
                    f["numbers"][key]
                    for f in r["findings"]
                    if f["probe"] == probe and key in f["numbers"]
                ),
                None,
            )
            for r in runs
        ]
        for probe, key in HEADLINES
    }
    return {
        "runs": len(runs),
        "conclusions": len(seen),
        "agreed": len(seen) - len(disagree),
        "disagree": disagree,
        "labelled_unstable": sum(bool(d["unstable"]) for d in disagree),
        "headlines": headlines,
        "contradictions": [[c for c in r.get("checks", []) if not c["holds"]] for r in runs],
        "seconds": [r.get("seconds") for r in runs],
    }


def show(report: dict[str, Any]) -> None:
    console = Console(width=100)
    n = report["runs"]
    console.print(
        f"[bold]{n} diagnose runs[/]: {report['conclusions']} distinct conclusions,"
        f" {report['agreed']} reached by every run, {len(report['disagree'])} not"
        f" ({report['labelled_unstable']} of those labelled unstable in a run that reached"
        " them); run times "
        + ", ".join("-" if s is None else f"{s:.0f} s" for s in report["seconds"])
    )
    if report["disagree"]:
        t = Table("probe", "runs", "unstable", "conclusion (numbers as #)", show_lines=True)
        for d in report["disagree"]:
            t.add_row(
                d["probe"],
                ",".join(map(str, d["runs"])),
                ",".join(map(str, d["unstable"])) or "-",
                d["conclusion"],
            )
        console.print(t)
    h = Table("headline", *(f"run {i + 1}" for i in range(n)))
    for key, values in report["headlines"].items():
        h.add_row(key, *(json.dumps(v) if not isinstance(v, float) else f"{v:.0f}" for v in values))
    console.print(h)
    for i, bad in enumerate(report["contradictions"]):
        for c in bad:
            console.print(
                f"run {i + 1}: contradiction ({c['probe']}): {c['claim']}; {c['evidence']}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="diagnose runs (default 3)")
    ap.add_argument("--quick", action="store_true", help="diagnose --quick")
    ap.add_argument("--probe", action="append", default=[], help="only this probe (repeatable)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ap.add_argument("--keep", type=Path, help="keep each run's store in this directory")
    ap.add_argument(
        "--from", dest="source", type=Path, help="recompute the runs kept in this directory"
    )
    args = ap.parse_args()
    if args.runs < 2:
        ap.error("--runs must be at least 2")
    if args.source:
        kept = sorted(args.source.glob("run*.sqlite"))
        if len(kept) < 2:
            ap.error(f"{args.source}: fewer than two run*.sqlite stores")
        runs = [recompute(db, args.timeout) for db in kept]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            where = args.keep or Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            runs = []
            for i in range(args.runs):
                print(f"run {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
                runs.append(run_once(args, where / f"run{i + 1}.sqlite"))
    report = compare(runs)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)


if __name__ == "__main__":
    main()
