"""One self-contained C file that runs an experiment's generated loop without smclab.

``smclab advise --emit-c FILE`` writes the winner this way. The file holds the machine code
smclab generated (built for a fixed address, its listing in a comment), maps the same regions
at that address (``MAP_FIXED_NOREPLACE``), places the code, pre-fills the slots, pins itself
to one CPU, calibrates the iterations so one repeat lasts >= 20 ms and prints the median
ticks per call of 7 repeats: the count the loop's own ``lfence; rdtsc`` returns, and the same
repeats timed around the call by the C program (inline asm). Built with ``gcc -O2``, it is an
independent check of smclab's worker and measurement path (no Python, no worker, no ctypes),
and a starting point for a JIT author (the loop's code, annotated, in one file).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from smclab import codegen
from smclab.codegen import NOMINAL_BASE, Program
from smclab.errors import SpecError
from smclab.model.result import MeasurementError
from smclab.report import collapse_runs, host_line
from smclab.suites.advise import Advice

#: repeats the C program times (the median is printed)
C_REPEATS = 7
#: each repeat lasts at least this long
C_MIN_MS = 20


def _bytes(name: str, raw: bytes) -> str:
    rows = [", ".join(f"0x{b:02x}" for b in raw[i : i + 16]) for i in range(0, len(raw), 16)]
    body = ",\n    ".join(rows) or "0"
    return f"static const unsigned char {name}[{max(1, len(raw))}] = {{\n    {body}\n}};\n"


def _prefill(program: Program) -> str:
    """C statements copying the source bytes into every pre-filled slot."""
    offs = program.prefill
    if not offs:
        return ""
    step = offs[1] - offs[0] if len(offs) > 1 else 0
    if len(offs) > 1 and all(b - a == step for a, b in zip(offs, offs[1:], strict=False)):
        return (
            f"    for (uint64_t off = {offs[0]}u; off <= {offs[-1]}u; off += {step}u)\n"
            "        memcpy((char *)EXEC_BUF + off, SOURCE, sizeof SOURCE);\n"
        )
    lines = [f"    memcpy((char *)EXEC_BUF + {o}u, SOURCE, sizeof SOURCE);" for o in offs]
    return "\n".join(lines) + "\n"


def c_source(program: Program, title: str, notes: list[str] | None = None) -> str:
    """The C file of ``program`` (built at :data:`NOMINAL_BASE`: ``codegen.build(exp)``)."""
    lay = program.layout
    if lay.base != NOMINAL_BASE:
        raise ValueError("build the program at the nominal base for a C file")
    if program.mapping != "rwx" or program.writer_addr:
        raise SpecError(
            "--emit-c writes loops of one thread in an RWX buffer: this one needs"
            f" {'a second thread' if program.writer_addr else program.mapping + ' mappings'}"
        )
    listing = collapse_runs(program.listing_text()).replace("*/", "* /")
    lines = [title, *(notes or [])]
    comment = "\n".join(f" * {w}" for line in lines for w in textwrap.wrap(line, 90) or [""])
    return f"""/*
{comment}
 *
 * Written by `smclab advise --emit-c`: the loop smclab generated and measured, without smclab.
 * Build and run:  gcc -O2 -o best best.c && ./best [iterations]
 * It maps the regions at the addresses the code was generated for, so it runs on x86-64
 * Linux with that range free (it says so if not). Prints ticks per call (TSC ticks per
 * iteration): the loop's own lfence;rdtsc count, and the same repeats timed around the call.
 *
 * The code (addresses as laid out below):
{chr(10).join(" * " + line for line in listing.splitlines())}
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define BASE ((uintptr_t){lay.base:#x}ull)
#define TOTAL ((size_t){lay.total:#x}ull)
#define CODE ((uintptr_t){lay.code:#x}ull)
#define CODE_SIZE ((size_t){lay.code_size:#x}ull)
#define EXEC_BUF ((uintptr_t){lay.exec_buf:#x}ull)
#define EXEC_SIZE ((size_t){lay.exec_size:#x}ull)
#define FAR_BUF ((uintptr_t){lay.far_buf:#x}ull)
#define FAR_SIZE ((size_t){lay.far_size:#x}ull)
#define ENTRY ((uintptr_t){program.entry_addr:#x}ull)
#define REPEATS {C_REPEATS}
#define MIN_MS {C_MIN_MS}

{_bytes("CODE_BYTES", program.code)}
{_bytes("SOURCE", program.source)}
static inline uint64_t rdtsc(void) {{
    uint32_t lo, hi;
    __asm__ volatile("lfence\\n\\trdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}}

static int cmp(const void *a, const void *b) {{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}}

static void pin_to_last_cpu(void) {{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++) if (CPU_ISSET(c, &set)) last = c;
    if (last < 0) return;
    CPU_ZERO(&set);
    CPU_SET(last, &set);
    sched_setaffinity(0, sizeof set, &set);
}}

int main(int argc, char **argv) {{
    pin_to_last_cpu();
    void *at = mmap((void *)BASE, TOTAL, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (at != (void *)BASE) {{
        fprintf(stderr, "cannot map %#lx bytes at %#lx (the code was generated for it)\\n",
                (unsigned long)TOTAL, (unsigned long)BASE);
        return 1;
    }}
    if (mprotect((void *)CODE, CODE_SIZE, PROT_READ | PROT_WRITE) ||
        (memcpy((void *)CODE, CODE_BYTES, sizeof CODE_BYTES), 0) ||
        mprotect((void *)CODE, CODE_SIZE, PROT_READ | PROT_EXEC) ||
        mprotect((void *)EXEC_BUF, EXEC_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC) ||
        mprotect((void *)FAR_BUF, FAR_SIZE, PROT_READ | PROT_WRITE)) {{
        perror("mprotect");
        return 1;
    }}
{_prefill(program)}    uint64_t (*run)(uint64_t) = (uint64_t (*)(uint64_t))ENTRY;

    /* calibrate: iterations so that one repeat lasts >= MIN_MS (TSC rate from a 50 ms sleep) */
    uint64_t t0 = rdtsc();
    usleep(50000);
    double tsc_per_ms = (double)(rdtsc() - t0) / 50.0;
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 0;
    run(1000);  /* warm-up */
    if (!n) {{
        n = 1000;
        while ((double)run(n) < MIN_MS * tsc_per_ms && n < (1ull << 40)) n *= 2;
    }}
    double inner[REPEATS], outer[REPEATS];
    for (int r = 0; r < REPEATS; r++) {{
        uint64_t a = rdtsc();
        uint64_t ticks = run(n);
        uint64_t b = rdtsc();
        inner[r] = (double)ticks / (double)n;
        outer[r] = (double)(b - a) / (double)n;
    }}
    qsort(inner, REPEATS, sizeof inner[0], cmp);
    qsort(outer, REPEATS, sizeof outer[0], cmp);
    printf("ticks per call: %.2f (median of %d repeats of %llu iterations; timed around"
           " the call: %.2f)\\n", inner[REPEATS / 2], REPEATS, (unsigned long long)n,
           outer[REPEATS / 2]);
    return 0;
}}
"""


def write_c(path: str | Path, a: Advice) -> None:
    """Write the advice's winner (what its confirmation supports) as a C file; a
    :class:`MeasurementError` if there is none."""
    if not a.recommended:
        raise MeasurementError(
            "no candidate beat the naive way in the confirmation: no C file written"
        )
    best = a.recommended[0]
    data = best.to_control("data")
    title = (
        f"{best.id}: the winner of smclab advise ({a.workload}) on {host_line(a.host)},"
        f" {time.strftime('%Y-%m-%d')}"
    )
    notes = [
        f"smclab measured {best.ticks.median:.2f} ticks per call:"
        f" {best.speedup:.1f}x faster than the naive loop"
        + (f", {data:.2f}x its own data control" if data is not None else "")
        + f", {best.to_floor:.2f}x the floor.",
        f"What to do: {best.how_to(a.naive.experiment)}.",
        f"Experiment: {best.experiment.label()}",
    ]
    Path(path).write_text(c_source(codegen.build(best.experiment), title, notes))
