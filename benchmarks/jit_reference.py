"""Does smclab's jit-emit workload rank the JIT write strategies as jit_smc_test does?

jit_smc_test (github animetosho/jit_smc_test) times 60 strategies of a single-use JIT; every one
maps to a jit-emit catalog id (``docs/jit_smc_test.md``, read here). This script:

1. measures smclab's jit-emit variant of every mapped strategy this CPU can run (the fastest of
   3 short repeats per round, and of the rounds: jit_smc_test reports its fastest trial);
2. prints that ranking beside jit_smc_test's published results (its ``results/`` folder) for the
   CPU closest to this host, with Spearman's rank correlation;
3. where the reference builds here (gcc), runs a fresh build of it, interleaved with smclab in
   rounds (each round runs both, in a random order, on the same CPU), and prints the rank
   correlation against it. The goal is a rank correlation >= 0.8 against the fresh run.

The reference's source is fetched at run time into ``benchmarks/build/jit_smc_test`` (``git
clone --source``; a local clone or mirror path works too), never committed. Without it the
script says why and still prints smclab's ranking.

    python benchmarks/jit_reference.py [--source URL|PATH] [--rounds N] [--min-ms MS] [--cpu N]

A benchmark, not a test: exit 0 unless smclab's measurements fail.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from smclab.run import machine
from smclab.run.interleave import measure_interleaved
from smclab.run.worker import Runner, default_cpu
from smclab.suites.catalog import VARIANTS

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "jit_smc_test.md"
BUILD = HERE / "build"
CLONE = BUILD / "jit_smc_test"
BINARY = BUILD / "jit_smc_test.bin"
SOURCE = "https://github.com/animetosho/jit_smc_test"
GOAL = 0.8
console = Console()

#: (vendor, family, models) -> jit_smc_test's result file; the first match wins
CLOSEST: list[tuple[str, range | tuple[int, ...], tuple[int, ...] | None, str]] = [
    ("AuthenticAMD", range(0x17, 0x30), None, "Zen1 (VM)"),
    ("AuthenticAMD", (0x16,), None, "Jaguar (win64)"),
    ("AuthenticAMD", (0x15,), None, "Piledriver"),
    ("AuthenticAMD", range(0, 0x15), None, "K10"),
    ("GenuineIntel", (6,), (0x0F, 0x16, 0x17, 0x1D), "Core2"),
    ("GenuineIntel", (6,), (0x1A, 0x1E, 0x1F, 0x2E, 0x25, 0x2C, 0x2F), "Nehalem"),
    ("GenuineIntel", (6,), (0x2A, 0x2D), "Sandy Bridge"),
    ("GenuineIntel", (6,), (0x3A, 0x3E), "Ivy Bridge (win64)"),
    ("GenuineIntel", (6,), (0x3C, 0x3F, 0x45, 0x46), "Haswell"),
    ("GenuineIntel", (6,), (0x3D, 0x47, 0x4F, 0x56), "Broadwell (xen)"),
    ("GenuineIntel", (6,), (0x37, 0x4A, 0x4C, 0x4D, 0x5A, 0x5D), "Silvermont"),
    ("GenuineIntel", (6,), (0x5C, 0x5F, 0x7A, 0x86, 0x96, 0x9C), "Goldmont (win64)"),
    ("GenuineIntel", (6,), (0x55,), "Skylake-X (win64)"),
    ("GenuineIntel", (6,), (0x4E, 0x5E, 0x8E, 0x9E, 0xA5, 0xA6), "Skylake"),
    ("GenuineIntel", range(6, 0x20), None, "Sunny Cove (wsl2)"),  # Ice Lake and later
]


def mapping() -> dict[str, str]:
    """jit_smc_test strategy -> smclab catalog id (the first id of its row in the doc table)."""
    out = {}
    for row in DOC.read_text().splitlines():
        m = re.match(r"\| `(jit_\w+)` \| `(emit-[\w-]+)`", row)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def closest(host: dict[str, Any]) -> str:
    vendor, family, model = host.get("vendor"), host.get("family", 0), host.get("model", 0)
    for v, families, models, name in CLOSEST:
        if v == vendor and family in families and (models is None or model in models):
            return name
    return "Skylake"


def fetch(source: str) -> tuple[Path | None, str]:
    """The reference's checkout under benchmarks/build (cloned now unless already there)."""
    if (CLONE / "test.c").exists():
        return CLONE, f"reference source: {CLONE} (already fetched)"
    if not shutil.which("git"):
        return None, "reference source: not fetched (no git on this host)"
    BUILD.mkdir(exist_ok=True)
    p = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", source, str(CLONE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if p.returncode != 0:
        reason = (p.stderr.strip().splitlines() or ["git clone failed"])[-1]
        return None, f"reference source: cannot fetch {source} ({reason})"
    return CLONE, f"reference source: fetched {source} into {CLONE}"


def parse_results(text: str) -> dict[str, float]:
    """jit_smc_test's output -> TSC ticks per call (it prints ticks per 1000 calls)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*(jit_\w+)\s+(\d+) rdtsc counts", line)
        if m:
            out[m.group(1)] = int(m.group(2)) / 1000
    return out


def build_reference(src: Path) -> tuple[Path | None, str]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None, "fresh run: no C compiler on this host"
    cmd = [cc, "-std=gnu99", "-O3", "-march=native", "-o", str(BINARY)]
    p = subprocess.run([*cmd, str(src / "test.c"), str(src / "jump.s")], capture_output=True)
    if p.returncode != 0:
        return None, f"fresh run: the reference does not build ({p.stderr.decode()[-200:]})"
    return BINARY, f"fresh run: {Path(cc).name} {' '.join(cmd[1:4])} test.c jump.s"


def run_reference(binary: Path, cpu: int) -> dict[str, float]:
    p = subprocess.run(
        ["taskset", "-c", str(cpu), str(binary)], capture_output=True, text=True, timeout=600
    )
    return parse_results(p.stdout)


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1 (smallest), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default=SOURCE, help="git URL or path of jit_smc_test")
    p.add_argument("--rounds", type=int, default=3, help="rounds of smclab and the reference")
    p.add_argument("--min-ms", type=float, default=2.0, help="smclab: ms per repeat")
    p.add_argument("--cpu", type=int, default=None, help="CPU for both (default: smclab's)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = machine.cpu_flags()
    names = {ref: vid for ref, vid in mapping().items() if not VARIANTS[vid].missing(flags)}
    settings = {"repeats": 3, "min_ms": args.min_ms, "events": ()}
    exps = {ref: VARIANTS[vid].experiment(**settings) for ref, vid in names.items()}
    src, src_note = fetch(args.source)
    binary, bin_note = build_reference(src) if src else (None, "fresh run: no source")
    cpu = default_cpu() if args.cpu is None else args.cpu
    smclab: dict[str, list[float]] = {ref: [] for ref in exps}
    fresh: dict[str, list[float]] = {}
    with Runner(cpu) as runner:
        host = machine.host_facts(runner.tsc_hz())
        for rnd in range(args.rounds):
            sides = ["smclab"] + (["reference"] if binary else [])
            random.shuffle(sides)
            for side in sides:
                console.print(f"round {rnd + 1}/{args.rounds}: {side}", style="dim")
                if side == "reference" and binary:
                    for ref, ticks in run_reference(binary, cpu).items():
                        fresh.setdefault(ref, []).append(ticks)
                    continue
                order = list(exps)
                random.shuffle(order)
                results = measure_interleaved(runner, [exps[r] for r in order], host)
                for ref, res in zip(order, results, strict=True):
                    if res.error or res.ticks_per_iter is None:
                        console.print(f"{names[ref]} failed: {res.error}")
                        return 1
                    smclab[ref].append(res.ticks_per_iter.min)
    # both sides as jit_smc_test reports: the fastest (of its 10 trials, of smclab's repeats),
    # here also over the rounds; on a busy host the fastest is the least disturbed
    ours = {ref: min(v) for ref, v in smclab.items()}
    theirs = {ref: min(v) for ref, v in fresh.items()}
    cpu_name = closest(host)
    published: dict[str, float] = {}
    if src:
        path = src / "results" / f"{cpu_name}.txt"
        published = parse_results(path.read_text()) if path.exists() else {}
    report(host, names, ours, published, theirs, cpu_name, args, [src_note, bin_note])
    return 0


def report(
    host: dict[str, Any],
    names: dict[str, str],
    ours: dict[str, float],
    published: dict[str, float],
    fresh: dict[str, float],
    cpu_name: str,
    args: argparse.Namespace,
    notes: list[str],
) -> None:
    floor = ours.get("jit_only")
    table = Table(
        title=f"jit-emit vs jit_smc_test on {host.get('model_name', '?')}"
        f" ({args.rounds} rounds, TSC ticks per call / iteration)"
    )
    for col in ("#", "smclab id", "ticks/it", "x floor", "jit_smc_test", "published", "#p"):
        table.add_column(col, justify="left" if col in ("smclab id", "jit_smc_test") else "right")
    table.add_column("fresh", justify="right")
    table.add_column("#f", justify="right")
    order = sorted(ours, key=ours.__getitem__)
    prank = _rank_of({r: published[r] for r in order if r in published})
    frank = _rank_of({r: fresh[r] for r in order if r in fresh})
    for i, ref in enumerate(order, 1):
        table.add_row(
            str(i),
            names[ref],
            f"{ours[ref]:.0f}",
            f"{ours[ref] / floor:.2f}" if floor else "-",
            ref,
            f"{published[ref]:.0f}" if ref in published else "-",
            str(prank.get(ref, "-")),
            f"{fresh[ref]:.0f}" if ref in fresh else "-",
            str(frank.get(ref, "-")),
        )
    console.print(table)
    for note in notes:
        console.print(note)
    for label, other in ((f"published ({cpu_name})", published), ("fresh run (this host)", fresh)):
        common = [r for r in order if r in other]
        rho = spearman([ours[r] for r in common], [other[r] for r in common])
        text = f"{rho:.2f}" if rho is not None else "n/a (no results)"
        console.print(f"Spearman rank correlation vs {label}: {text} over {len(common)} shared")
        if label.startswith("fresh"):
            met = "not measured" if rho is None else "met" if rho >= GOAL else "NOT met"
            console.print(f"goal: rank correlation >= {GOAL} against a fresh run: {met}")


def _rank_of(values: dict[str, float]) -> dict[str, int]:
    return {r: i for i, r in enumerate(sorted(values, key=values.__getitem__), 1)}


if __name__ == "__main__":
    sys.exit(main())
