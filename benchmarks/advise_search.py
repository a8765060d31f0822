"""How close does advise's search get to an exhaustive sweep of the same space, in how long?
And does the emitted C file time the winner as smclab does?

1. A space small enough to sweep (ring x write-ahead x call kind x copy, from this host's
   caches; ``--rings``/``--copies`` narrow it) is measured exhaustively (every point, ``--rounds``
   interleaved rounds, in chunks), then searched by the engine advise uses
   (:func:`smclab.suites.advise.search_here`) with ``--budget`` seconds. The two winners are
   then measured together (``--final-rounds`` interleaved rounds): the table shows both, their
   ratio (search / exhaustive; <= 1.05 is "found it") and the time each took.
2. ``--emit-c``: the search winner's C file (``smclab advise --emit-c``) is built with gcc -O2
   and run alternately with smclab's own measurement of the same experiment (``--c-runs``
   times each): the median ratio C / smclab (target 0.90-1.10: an independent check of the
   worker's measurement).

    python benchmarks/advise_search.py [--budget 30] [--rounds 3] [--emit-c] [--json]

A benchmark, not a test: it prints a table; exit 0 unless a measurement fails.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smclab import codegen
from smclab.model.caches import CacheSizes
from smclab.model.experiment import Experiment
from smclab.model.knobs import format_size, parse_size
from smclab.model.rounds import compare_rounds
from smclab.model.search import Knob, Point, Space, exhaustive
from smclab.report.c_file import c_source
from smclab.suites.advise import LiveMeasure, search_here
from smclab.suites.session import Session
from smclab.suites.workarounds import SETS, Candidate
from smclab.workloads.seed.advise import SPACE_FIXED, space_aheads

K = 1024


def small_space(host: dict, rings: list[int], copies: list[str]) -> Space:
    sizes = CacheSizes.of(host)
    aheads = tuple(a for a in space_aheads(sizes) if a >= 512 and a < max(rings))
    knobs = (
        Knob("buffer", tuple(rings)),
        Knob("ahead", aheads),
        Knob("call", ("indirect", "direct"), ordered=False),
        Knob("copy", tuple(copies), ordered=False),
    )

    def valid(v: dict) -> bool:
        try:
            Experiment(**v)
        except Exception:
            return False
        return v["ahead"] < v["buffer"]

    return Space("benchmark", knobs, dict(SPACE_FIXED), valid)


def name(p: Point) -> str:
    v = dict(p)
    return (
        f"ring-{format_size(v['buffer'])}-ahead-{format_size(v['ahead'])}-{v['call']}-{v['copy']}"
    )


def c_ticks(exe: Path) -> float:
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=True)
    m = re.match(r"ticks per call: (\S+)", out.stdout)
    if not m:
        raise RuntimeError(f"unexpected output: {out.stdout!r}")
    return float(m.group(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=30.0, help="search seconds (default 30)")
    p.add_argument("--rounds", type=int, default=3, help="exhaustive rounds per point (3)")
    p.add_argument("--final-rounds", type=int, default=9, help="head-to-head rounds (9)")
    p.add_argument("--rings", default="16K,32K,64K,128K,256K", help="ring sizes (comma list)")
    p.add_argument("--copies", default="rep-movsb,avx", help="copy methods (comma list)")
    p.add_argument("--emit-c", action="store_true", help="also compare the C file with smclab")
    p.add_argument("--c-runs", type=int, default=5, help="alternating C/smclab runs (5)")
    p.add_argument("--db", default=None, help="store (default: a temporary file)")
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    rings = [parse_size(r) for r in a.rings.split(",")]
    copies = a.copies.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="smclab-bench-"))
    rows: dict[str, object] = {}
    with Session(a.db or tmp / "bench.sqlite", a.cpu) as s:
        space = small_space(s.host, rings, copies)
        cs = SETS["seed"]

        def to_candidate(q: Point) -> Candidate:
            return Candidate(name(q), space.values(q))

        pts = list(space.points())
        print(f"space: {len(pts)} valid points ({space.size} combinations)", file=sys.stderr)
        t0 = time.monotonic()
        sweep = LiveMeasure(s, to_candidate, {}, "bench-exhaustive", None, 1e9)
        grid = exhaustive(space, sweep, a.rounds)
        t_ex = time.monotonic() - t0
        ex_best = min(grid, key=lambda q: grid[q])
        t0 = time.monotonic()
        outcome, _ = search_here(s, space, to_candidate, cs, a.budget, seed=a.seed, name="bench")
        t_search = time.monotonic() - t0
        found = outcome.best or (outcome.leaders[0] if outcome.leaders else None)
        if found is None:
            print("the search confirmed no leader", file=sys.stderr)
            return 1
        final = LiveMeasure(s, to_candidate, {}, "bench-final", None, 1e9)
        both = final([ex_best, found], a.final_rounds, "confirm").values
        vb, vf = both[ex_best], both[found]
        if not vb or not vf:
            print("a winner failed in the head-to-head", file=sys.stderr)
            return 1
        c = compare_rounds(vf, vb) if found != ex_best else None
        rows = {
            "host": s.host.get("model_name"),
            "space_points": len(pts),
            "exhaustive": {"best": name(ex_best), "seconds": t_ex, "ticks": statistics.median(vb)},
            "search": {
                "best": name(found),
                "seconds": t_search,
                "budget": a.budget,
                "evaluated": outcome.evaluated,
                "ticks": statistics.median(vf),
            },
            "search_over_exhaustive": c.ratio if c else 1.0,
            "interval": [c.low, c.high] if c else [1.0, 1.0],
        }
        if a.emit_c and shutil.which("gcc"):
            exp = Experiment(**to_candidate(found).knobs)
            src = tmp / "best.c"
            src.write_text(c_source(codegen.build(exp), name(found)))
            exe = tmp / "best"
            subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
            ratios = []
            for _ in range(a.c_runs):  # alternately: a slow phase hits both alike
                ct = c_ticks(exe)
                st = final([found], 5, "confirm").values[found]
                ratios.append(ct / statistics.median(st or [float("nan")]))
            rows["emit_c"] = {"c_over_smclab": statistics.median(ratios), "runs": ratios}
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    ex, se = rows["exhaustive"], rows["search"]
    assert isinstance(ex, dict) and isinstance(se, dict)
    print(f"{'':12} {'winner':44} {'ticks':>8} {'seconds':>8}")
    print(f"{'exhaustive':12} {ex['best']:44} {ex['ticks']:8.2f} {ex['seconds']:8.1f}")
    print(f"{'search':12} {se['best']:44} {se['ticks']:8.2f} {se['seconds']:8.1f}")
    lo, hi = rows["interval"]  # type: ignore[misc]
    print(
        f"search / exhaustive: {rows['search_over_exhaustive']:.3f} [{lo:.3f}, {hi:.3f}]"
        f" ({a.final_rounds} interleaved rounds); the search measured {se['evaluated']} of"
        f" {rows['space_points']} points"
    )
    if "emit_c" in rows:
        e = rows["emit_c"]
        assert isinstance(e, dict)
        print(f"emit-c / smclab (same winner, alternating runs): {e['c_over_smclab']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
