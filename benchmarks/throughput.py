"""How many sweep configurations per minute does smclab run on this machine?

Runs one sweep grid (42 runnable seed configurations: buffer x step x barrier) with fixed
iterations and repeats, three ways:

* ``cli``: ``smclab sweep --json`` in a fresh process and a fresh store: the wall time a user
  waits, including Python start-up, host facts and the worker's start;
* ``cli, all stored``: the same command again: everything is skipped (the cost of a resume);
* ``api``: :func:`smclab.suites.sweep.run_sweep` in this process: the sweep loop alone, with
  the number of worker processes it started (1: the worker is reused).

``in loop`` is the share of the wall time spent inside the timed loops
(iterations x repeats x ns/iter summed over the rows); the rest is per-config overhead
(code generation, mapping, warm-up, the round trip to the worker, the store).

    python benchmarks/throughput.py [--iterations N] [--repeats R] [--rounds K] [--json]

A benchmark, not a test: the target is >= 100 configurations per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

GRID = {
    "buffer": "4K,64K,1M",
    "step": "0,64,256,1024,4096",
    "barrier": "none,mfence,lfence",
}
TARGET = 100.0  # configs per minute


def grid_args(iterations: int, repeats: int) -> list[str]:
    args = [f"--{k}={v}" for k, v in GRID.items()]
    return [*args, "--iterations", str(iterations), "--repeats", str(repeats)]


def in_loop_seconds(rows: list[dict[str, Any]]) -> float:
    return sum(
        r["iterations"] * r["repeats"] * r["ns_median"] * 1e-9 for r in rows if r["ns_median"]
    )


def run_cli(db: Path, args: list[str]) -> tuple[float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "smclab", "sweep", "--json", "--db", str(db), *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        sys.exit(f"throughput: smclab sweep failed ({p.returncode}): {p.stderr.strip()}")
    return wall, json.loads(p.stdout)


def run_api(db: Path, args: list[str]) -> tuple[float, int, list[dict[str, Any]]]:
    from smclab.store.export import export_rows
    from smclab.suites import sweep as sw
    from smclab.suites.session import Session

    it, rep = int(args[args.index("--iterations") + 1]), int(args[args.index("--repeats") + 1])
    grid = sw.Grid.from_options({**GRID, "iterations": str(it), "repeats": str(rep)})
    with Session(db) as s:
        p = sw.plan(grid, s.cpu, s.flags)
        s.host  # noqa: B018 (host facts and the TSC rate, outside the timed loop)
        t0 = time.perf_counter()
        sw.run_sweep(s, p)
        wall = time.perf_counter() - t0
        rows = export_rows(s.store.results(sweep_id=p.sweep_id))
        return wall, s.runner.workers_started, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="fresh-store runs of each mode")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    args = grid_args(opts.iterations, opts.repeats)

    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cli_runs, resume_runs, api_runs = [], [], []
        for k in range(opts.rounds):
            db = Path(tmp) / f"cli{k}.sqlite"
            wall, out = run_cli(db, args)
            cli_runs.append((wall, out["sweep"]["ran"], in_loop_seconds(out["rows"])))
            wall, out = run_cli(db, args)
            resume_runs.append((wall, out["sweep"]["already_done"]))
            wall, workers, rows = run_api(Path(tmp) / f"api{k}.sqlite", args)
            api_runs.append((wall, len(rows), in_loop_seconds(rows), workers))

    def line(mode: str, runs: list[tuple], ran: bool = True, workers: str = "") -> None:
        wall = statistics.median(r[0] for r in runs)
        n = runs[0][1]
        lines.append(
            {
                "mode": mode,
                "configs": n,
                "wall_s": wall,
                "ms_per_config": wall / n * 1e3,
                "configs_per_min": n / wall * 60 if ran else None,
                "in_loop": statistics.median(r[2] / r[0] for r in runs) if ran else None,
                "workers": workers,
            }
        )

    line("cli", cli_runs)
    line("cli, all stored", resume_runs, ran=False)
    line("api (loop only)", api_runs, workers=",".join(str(r[3]) for r in api_runs))

    if opts.json:
        print(json.dumps({"iterations": opts.iterations, "repeats": opts.repeats, "rows": lines}))
        return
    t = Table(
        title=f"Sweep throughput: {lines[0]['configs']} configs, --iterations {opts.iterations}"
        f" --repeats {opts.repeats}; median of {opts.rounds} rounds"
    )
    for col in ("mode", "configs", "wall s", "ms/config", "configs/min", "in loop", "workers"):
        t.add_column(col, justify="left" if col == "mode" else "right")
    for r in lines:
        t.add_row(
            r["mode"],
            str(r["configs"]),
            f"{r['wall_s']:.2f}",
            f"{r['ms_per_config']:.1f}",
            "-" if r["configs_per_min"] is None else f"{r['configs_per_min']:.0f}",
            "-" if r["in_loop"] is None else f"{r['in_loop']:.0%}",
            r["workers"] or "-",
        )
    console = Console()
    console.print(t)
    ok = lines[0]["configs_per_min"] >= TARGET
    console.print(f"target >= {TARGET:.0f} configs/min (cli): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
