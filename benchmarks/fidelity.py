"""Does smclab measure what a plain C build of the seed's loop measures?

Builds ``benchmarks/ref/seed_ref.c`` (the seed's smc.asm loop, instruction for instruction, in
GNU as) into ``benchmarks/build/``, then for each configuration runs, interleaved in rounds, the
reference and ``smclab run --json`` with the same iterations (calibrated per configuration by
smclab, so a 30 ns and a 20 us loop both take about ``--min-ms`` a repeat), repeats and CPU, every
side once per round in a fresh random order, and compares them by the median of the per-round
ratios (with its order-statistic interval).  The reference runs in two buffer placements:

* ``ref``: the seed's own: the RWX buffer wherever ``mmap`` puts it (far from the PIE's .text);
* ``ref@smclab``: the buffer 1 MiB + 64 KiB after the code, where smclab's reservation puts it.

Last, it times a full ``smclab seed`` and reads the largest row spread from ``smclab seed --json``.

    python benchmarks/fidelity.py [--configs 4K/0,baseline] [--rounds N] [--min-ms MS] [--json]

A benchmark, not a test: exit 0 unless the reference does not build.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from smclab import codegen
from smclab.model.experiment import Experiment
from smclab.model.rounds import Comparison, compare_rounds

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "ref" / "seed_ref.c"
BUILD = HERE / "build"
BINARY = BUILD / "seed_ref"

RATIO_TARGET = (0.95, 1.05)
SEED_WALL_TARGET_S = 10.0
SEED_SPREAD_TARGET = 0.03
#: rounds of one side disagreeing by more than this (max - min over median) mark the cell noisy
NOISY_ROUNDS = 0.05
#: with --layout near, where smclab's exec buffer starts after its code (the default, far layout
#: puts it 4 TiB away, as mmap places the seed's buffer)
_NEAR = codegen.layout_for(Experiment(layout="near"))
NEAR_DELTA = _NEAR.exec_buf - _NEAR.code
TIMEOUT_S = 300.0
NEAR_ARGS = ("--layout", "near")


@dataclass(frozen=True)
class Config:
    name: str
    buffer: int
    step: int
    variant: str  # seed_ref -v
    smclab_args: tuple[str, ...]


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("4K/0", 4096, 0, "seed", ()),
        Config("4K/64", 4096, 64, "seed", ()),
        Config("1M/2048", 1 << 20, 2048, "seed", ()),
        Config("1M/4096", 1 << 20, 4096, "seed", ()),
        Config("baseline", 4096, 0, "baseline", ("--barrier", "mfence", "--call", "source")),
        Config("far-store", 4096, 0, "far", ("--store", "far")),
    )
}


@dataclass
class Measured:
    """Per-round medians of one side of a comparison (keyed by round, so sides pair up)."""

    by_round: dict[int, tuple[float, float]] = field(default_factory=dict)  # (ns, ticks)
    errors: list[str] = field(default_factory=list)

    @property
    def ns(self) -> list[float]:
        return [v[0] for v in self.by_round.values()]

    @property
    def ticks(self) -> list[float]:
        return [v[1] for v in self.by_round.values()]

    @property
    def ns_median(self) -> float | None:
        return statistics.median(self.ns) if self.ns else None

    @property
    def ticks_median(self) -> float | None:
        return statistics.median(self.ticks) if self.ticks else None

    @property
    def round_spread(self) -> float | None:
        """(max - min) / median of the per-round ns/iter."""
        med = self.ns_median
        return (max(self.ns) - min(self.ns)) / med if med else None

    @property
    def round_iqr(self) -> float | None:
        """IQR / median of the per-round ns/iter (from 4 rounds; one odd round moves it
        little, unlike the range)."""
        if len(self.ns) < 4:
            return None
        q1, med, q3 = statistics.quantiles(self.ns, n=4, method="inclusive")
        return (q3 - q1) / med if med else None

    @property
    def noisy(self) -> bool:
        spread = self.round_spread
        return spread is not None and spread > NOISY_ROUNDS

    def to_dict(self) -> dict[str, Any]:
        return {
            "ns_per_iter": self.ns_median,
            "ticks_per_iter": self.ticks_median,
            "rounds_ns": self.ns,
            "rounds_ticks": self.ticks,
            "rounds": sorted(self.by_round),
            "round_spread": self.round_spread,
            "errors": self.errors,
        }


@dataclass
class Row:
    config: Config
    ref: Measured = field(default_factory=Measured)
    smclab: Measured = field(default_factory=Measured)
    ref_near: Measured = field(default_factory=Measured)
    smclab_near: Measured = field(default_factory=Measured)

    iterations: int = 0

    @staticmethod
    def paired(a: Measured, b: Measured, unit: int = 0) -> Comparison | None:
        """a / b over the rounds where both sides measured (median and its interval)."""
        rounds = sorted(set(a.by_round) & set(b.by_round))
        if not rounds:
            return None
        return compare_rounds(
            [a.by_round[r][unit] for r in rounds], [b.by_round[r][unit] for r in rounds]
        )

    @property
    def versus(self) -> Comparison | None:
        return self.paired(self.smclab, self.ref)

    @property
    def versus_near(self) -> Comparison | None:
        return self.paired(self.smclab_near, self.ref_near)

    @property
    def ratio(self) -> float | None:
        return self.versus.ratio if self.versus else None

    @property
    def ratio_ticks(self) -> float | None:
        c = self.paired(self.smclab, self.ref, unit=1)
        return c.ratio if c else None

    @property
    def ratio_near(self) -> float | None:
        return self.versus_near.ratio if self.versus_near else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.name,
            "knobs": asdict(self.config),
            "ref": self.ref.to_dict(),
            "smclab": self.smclab.to_dict(),
            "ref_near": self.ref_near.to_dict(),
            "smclab_near": self.smclab_near.to_dict(),
            "iterations": self.iterations,
            "ratio": self.ratio,
            "ratio_interval": [self.versus.low, self.versus.high] if self.versus else None,
            "ratio_ticks": self.ratio_ticks,
            "ratio_near": self.ratio_near,
            "ratio_near_interval": (
                [self.versus_near.low, self.versus_near.high] if self.versus_near else None
            ),
            "within_target": within(self.ratio),
            "within_target_near": within(self.ratio_near),
        }


def within(ratio: float | None) -> bool | None:
    return None if ratio is None else RATIO_TARGET[0] <= ratio <= RATIO_TARGET[1]


def build() -> str | None:
    """Compile the reference; the compiler's message on failure."""
    BUILD.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(BINARY), str(SOURCE)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{' '.join(cmd)}: {e}"
    return None if proc.returncode == 0 else f"{' '.join(cmd)}:\n{proc.stderr.strip()}"


def default_smclab() -> str:
    exe = shutil.which("smclab", path=str(Path(sys.executable).parent)) or shutil.which("smclab")
    return shlex.quote(exe) if exe else f"{shlex.quote(sys.executable)} -m smclab"


def run_json(cmd: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    """Run ``cmd``, parse its stdout as JSON: (object, None) or (None, reason)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return None, f"exit {proc.returncode}: {tail[0]}"
    return data, None


def run_ref(
    c: Config, iterations: int, repeats: int, cpu: int, delta: int, into: Measured, rnd: int
) -> None:
    cmd = [str(BINARY), "-j", "-b", str(c.buffer), "-s", str(c.step), "-v", c.variant]
    cmd += ["-n", str(iterations), "-r", str(repeats), "-c", str(cpu), "-d", hex(delta)]
    data, err = run_json(cmd)
    if data is None:
        into.errors.append(err or "no output")
        return
    into.by_round[rnd] = (float(data["median_ns"]), float(data["median_ticks"]))


def run_smclab(
    smclab: list[str],
    c: Config,
    iterations: int,
    repeats: int,
    cpu: int,
    db: str,
    into: Measured,
    rnd: int,
    extra: tuple[str, ...] = (),
) -> None:
    cmd = smclab + ["run", "--json", "--db", db, "--buffer", str(c.buffer), *extra]
    cmd += ["--step", str(c.step), *c.smclab_args, "--iterations", str(iterations)]
    cmd += ["--repeats", str(repeats), "--cpu", str(cpu)]
    data, err = run_json(cmd)
    if data is None or data.get("error") or not data.get("ns_per_iter"):
        into.errors.append(err or str((data or {}).get("error") or "no ns_per_iter"))
        return
    into.by_round[rnd] = (
        float(data["ns_per_iter"]["median"]),
        float(data["ticks_per_iter"]["median"]),
    )


def seed_check(smclab: list[str], db: str) -> dict[str, Any]:
    """Wall time of ``smclab seed`` and the largest row spread of ``smclab seed --json``."""
    out: dict[str, Any] = {"wall_s": None, "max_spread": None, "max_spread_row": None}
    cmd = smclab + ["seed", "--db", db]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        out["exit_code"] = proc.returncode
        if proc.returncode == 0:
            out["wall_s"] = time.perf_counter() - t0
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            out["error"] = f"exit {proc.returncode}: {tail[0]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        out["error"] = str(e)
    t0 = time.perf_counter()
    data, err = run_json(cmd + ["--json"])
    out["json_wall_s"] = time.perf_counter() - t0
    if data is None:
        out["error"] = out.get("error") or err
    else:
        spreads = [
            (float(r["ticks_per_iter"]["spread"]), str(r["name"]))
            for r in data.get("rows", [])
            if r.get("ticks_per_iter")
        ]
        if spreads:
            out["max_spread"], out["max_spread_row"] = max(spreads)
    wall, spread = out["wall_s"], out["max_spread"]
    out["wall_within_target"] = None if wall is None else wall <= SEED_WALL_TARGET_S
    out["spread_within_target"] = None if spread is None else spread <= SEED_SPREAD_TARGET
    return out


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def cell(m: Measured) -> str:
    return fmt(m.ns_median) + ("[yellow]*[/]" if m.noisy else " ")


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else "[green]yes[/]" if ok else "[red]no[/]"


def print_table(rows: list[Row], seed: dict[str, Any], meta: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        title=f"smclab vs the C reference (cpu {meta['cpu']}, {meta['repeats']} repeats a run,"
        f" {meta['rounds']} interleaved rounds; ratios: median of the per-round ratios)"
    )
    for col in ("config", "iterations", "ref ns/it", "smclab ns/it", "smclab/ref", "interval"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for col in ("0.95-1.05", "ticks ratio", "near: ref", "smclab", "smclab/ref", "0.95-1.05"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r.config.name,
            f"{r.iterations:,}" if r.iterations else "-",
            cell(r.ref),
            cell(r.smclab),
            fmt(r.ratio, ".3f"),
            f"{r.versus.low:.3f}-{r.versus.high:.3f}" if r.versus else "-",
            verdict(within(r.ratio)),
            fmt(r.ratio_ticks, ".3f"),
            cell(r.ref_near),
            cell(r.smclab_near),
            fmt(r.ratio_near, ".3f"),
            verdict(within(r.ratio_near)),
        )
    console.print(table)
    console.print(
        "ref: the seed's build (buffer wherever mmap puts it), smclab: its default layout (buffer"
        f" 4 TiB from the code); near: the buffer {NEAR_DELTA:#x} bytes after the code (the"
        " reference's -d, smclab's --layout near);"
        " ticks ratio: smclab/ref in TSC ticks (no clock conversion);"
        f" *: its rounds disagree by more than {NOISY_ROUNDS:.0%} (other load on the CPU?)"
    )
    for r in rows:
        sides = (
            ("ref", r.ref),
            ("smclab", r.smclab),
            ("ref near", r.ref_near),
            ("smclab near", r.smclab_near),
        )
        for side, m in sides:
            for e in m.errors:
                console.print(f"[red]{r.config.name} {side}: {e}[/]")
    if seed.get("error"):
        console.print(f"[red]smclab seed: {seed['error']}[/]")
    console.print(
        f"smclab seed: wall {fmt(seed['wall_s'])} s (target <= {SEED_WALL_TARGET_S:g} s:"
        f" {verdict(seed['wall_within_target'])}); max row spread"
        f" {fmt(None if seed['max_spread'] is None else seed['max_spread'] * 100, '.1f')}%"
        f" ({seed['max_spread_row'] or '-'}; target <= {SEED_SPREAD_TARGET:.0%}:"
        f" {verdict(seed['spread_within_target'])})"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, from: {', '.join(CONFIGS)} (default: all)",
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument(
        "--iterations", type=int, default=None, help="per repeat (default: calibrated per config)"
    )
    p.add_argument(
        "--min-ms", type=float, default=20.0, help="calibrate a repeat to this (default 20)"
    )
    p.add_argument("--repeats", type=int, default=5, help="per run (default 5)")
    p.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="default: last")
    p.add_argument(
        "--smclab",
        default=default_smclab(),
        help="command that runs smclab (default: %(default)s)",
    )
    p.add_argument("--no-seed", action="store_true", help="skip timing `smclab seed`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        p.error(f"unknown config(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    if args.rounds < 1 or (args.iterations is not None and args.iterations < 1) or args.repeats < 1:
        p.error("--rounds, --iterations and --repeats must be >= 1")
    args.config_list = [CONFIGS[n] for n in names]
    return args


def calibrate(smclab: list[str], c: Config, cpu: int, db: str, min_ms: float) -> int | str:
    """The iteration count smclab calibrates for ``c`` (a repeat of at least ``min_ms``)."""
    cmd = smclab + ["run", "--json", "--db", db, "--buffer", str(c.buffer), "--step", str(c.step)]
    cmd += [*c.smclab_args, "--repeats", "1", "--min-ms", str(min_ms), "--cpu", str(cpu)]
    data, err = run_json(cmd)
    if data is None or data.get("error") or not data.get("iterations"):
        return f"calibration: {err or (data or {}).get('error') or 'no iterations'}"
    return int(data["iterations"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    err = build()
    if err:
        print(f"fidelity: building the reference failed: {err}", file=sys.stderr)
        return 1
    rows = [Row(c) for c in args.config_list]
    r, cpu, smclab = args.repeats, args.cpu, shlex.split(args.smclab)
    rng = random.Random()
    with tempfile.TemporaryDirectory(prefix="smclab-fidelity-") as tmp:
        db = str(Path(tmp) / "fidelity.sqlite")
        for row in rows:
            n = args.iterations or calibrate(smclab, row.config, cpu, db, args.min_ms)
            if isinstance(n, str):
                row.smclab.errors.append(n)
            else:
                row.iterations = n
        for rnd in range(args.rounds):
            # every side of every config once per round, in a fresh random order: a slow phase
            # of the host then hits both sides of a ratio alike
            jobs: list[Callable[[], None]] = []
            for row in (row for row in rows if row.iterations):
                c, n = row.config, row.iterations
                jobs += [
                    partial(run_ref, c, n, r, cpu, 0, row.ref, rnd),
                    partial(run_smclab, smclab, c, n, r, cpu, db, row.smclab, rnd),
                    partial(run_ref, c, n, r, cpu, NEAR_DELTA, row.ref_near, rnd),
                    partial(run_smclab, smclab, c, n, r, cpu, db, row.smclab_near, rnd, NEAR_ARGS),
                ]
            rng.shuffle(jobs)
            for job in jobs:
                job()
        seed: dict[str, Any] = {"wall_s": None, "max_spread": None, "max_spread_row": None}
        seed |= {"wall_within_target": None, "spread_within_target": None, "skipped": True}
        if not args.no_seed:
            seed = seed_check(smclab, str(Path(tmp) / "seed.sqlite"))
    meta = {
        "cpu": cpu,
        "iterations": args.iterations or f"calibrated per config (>= {args.min_ms:g} ms a repeat)",
        "repeats": r,
        "rounds": args.rounds,
        "smclab": args.smclab,
    }
    if args.json:
        out = {
            **meta,
            "targets": {
                "ratio": list(RATIO_TARGET),
                "seed_wall_s": SEED_WALL_TARGET_S,
                "seed_spread": SEED_SPREAD_TARGET,
            },
            "rows": [row.to_dict() for row in rows],
            "seed": seed,
        }
        print(json.dumps(out, indent=2))
    else:
        print_table(rows, seed, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
