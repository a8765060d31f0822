"""Does an assembly experiment measure what the built-in experiment it reproduces measures?

Runs ``examples/seed.s`` (the seed written by hand: payload ``ret`` + 63 nops, writer
``mov rcx, 64; rep movsb``) against the built-in seed loop with the same knobs (``smclab run
--buffer 4K --step 0``), interleaved in rounds in one worker (each round runs both once, in a
fresh random order, so a slow phase of the host hits both alike), and prints the median of the
per-round ratios (asm / built-in) with its order-statistic interval. Target: 0.95-1.05.

    python benchmarks/asm_fidelity.py [--rounds 15] [--min-ms 20] [--cpu N] [--step 0]
        [--buffer 4K] [--file examples/seed.s] [--json]

A benchmark, not a test (tests/test_asm.py asserts a wide margin): exit 0 unless a side errs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from pathlib import Path

from smclab.isa.gas import read_file
from smclab.model.experiment import Experiment
from smclab.model.knobs import parse_size
from smclab.model.rounds import compare_rounds
from smclab.run import machine
from smclab.run.interleave import measure_interleaved
from smclab.run.worker import Runner

HERE = Path(__file__).resolve().parent
TARGET = (0.95, 1.05)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", default=str(HERE.parent / "examples" / "seed.s"))
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    p.add_argument("--min-ms", type=float, default=20.0, help="a repeat lasts at least this")
    p.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="default: last")
    p.add_argument("--buffer", default="4K")
    p.add_argument("--step", default="0")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    name, text = read_file(args.file)
    knobs = {"buffer": parse_size(args.buffer), "step": parse_size(args.step)}
    settings = {"repeats": args.rounds, "min_ms": args.min_ms, "events": ()}
    built_in = Experiment(**knobs, **settings)
    with Runner(args.cpu) as runner:
        host = {"tsc_hz": runner.tsc_hz()}
        # both sides run the built-in's calibrated count: on a busy CPU a longer repeat is
        # preempted more often, which would favour the side calibrated to fewer iterations
        n = runner.measure(dataclasses.replace(built_in, repeats=1), host).iterations
        if not n:
            print("asm_fidelity: calibrating the built-in seed failed", file=sys.stderr)
            return 1
        built_in = dataclasses.replace(built_in, iterations=n)
        by_hand = dataclasses.replace(built_in, asm=text, asm_name=name)
        a, b = measure_interleaved(runner, [by_hand, built_in], host)
    for r in (a, b):
        if r.error:
            print(f"asm_fidelity: {r.experiment.label()}: {r.error}", file=sys.stderr)
            return 1
    c = compare_rounds(a.round_values(), b.round_values())
    assert a.ticks_per_iter and b.ticks_per_iter
    out = {
        "host": machine.cpuinfo().get("model name", "unknown"),
        "date": datetime.date.today().isoformat(),
        "cpu": args.cpu,
        "rounds": c.rounds,
        "iterations": n,
        "asm": {"label": a.experiment.label(), "ticks_per_iter": a.ticks_per_iter.median},
        "built_in": {"label": b.experiment.label(), "ticks_per_iter": b.ticks_per_iter.median},
        "ratio": c.ratio,
        "interval": [c.low, c.high],
        "within_target": TARGET[0] <= c.ratio <= TARGET[1],
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{a.experiment.label()}: {a.ticks_per_iter.median:.1f} ticks/iter;"
            f" built-in {b.experiment.label()}: {b.ticks_per_iter.median:.1f}"
        )
        verdict = "yes" if out["within_target"] else "no"
        print(
            f"asm / built-in = {c.ratio:.3f} (interval {c.low:.3f}-{c.high:.3f}, {c.rounds}"
            f" interleaved rounds on cpu {args.cpu}); within {TARGET[0]}-{TARGET[1]}: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
