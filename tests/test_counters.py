"""Tests for smclab.counters: the event table, raw encoding and the perf_event_open path.

Only software events are required to count (they work in every VM); hardware events must be
either counted (a number) or reported unavailable with a reason (None), never made up.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import re

import pytest

from smclab.run.counters import (
    CounterGroup,
    EventSpec,
    UnknownEvent,
    encode_raw,
    event_names,
    probe,
    resolve,
)
from smclab.run.counters import events as events_mod
from smclab.run.counters import perf as perf_mod
from smclab.run.machine import cpu_id

INTEL = "GenuineIntel"
AMD = "AuthenticAMD"
SKYLAKE = (INTEL, 6, 0x9E)  # Kaby/Coffee Lake
ICELAKE = (INTEL, 6, 0x7E)
HASWELL = (INTEL, 6, 0x3C)
NEHALEM = (INTEL, 6, 0x1E)
GOLDMONT = (INTEL, 6, 0x5C)
ZEN2 = (AMD, 0x17, 0x31)
ZEN3 = (AMD, 0x19, 0x01)
ZEN4 = (AMD, 0x19, 0x11)
ZEN5 = (AMD, 0x1A, 0x02)
ALL_CPUS = [SKYLAKE, ICELAKE, HASWELL, NEHALEM, GOLDMONT, ZEN2, ZEN3, ZEN4, ZEN5]

PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE, PERF_TYPE_RAW = 0, 1, 4
ERRNO_IN_REASON = re.compile(r"\(perf_event_open: E[A-Z0-9]+ .+\)")
PAGE = mmap.PAGESIZE
_CPU = cpu_id()
HOST = (_CPU.vendor, _CPU.family, _CPU.model)


# --------------------------------------------------------------------------------------------
# encode_raw


def test_encode_raw_known_configs() -> None:
    assert encode_raw(0xC3, 0x04) == 0x04C3  # MACHINE_CLEARS.SMC, the seed's r04c3
    assert encode_raw(0xC3, 0x01, edge=1, cmask=1) == 0x010401C3  # MACHINE_CLEARS.COUNT
    assert encode_raw(0x0D, 0x03, cmask=1) == 0x0100030D
    assert encode_raw(0xC5, 0x00, inv=1) == 0x008000C5
    assert encode_raw(0x9F, 0x01) == 0x019F


def test_encode_raw_amd_extended_event_number() -> None:
    # Event 0x1C2: bits 7:0 stay in config 7:0, bits 11:8 go to config 35:32.
    assert encode_raw(0x1C2, 0x00) == 0x1_0000_00C2
    assert encode_raw(0xFA5, 0x3C) == (0xF << 32) | 0x3CA5
    assert encode_raw(0x1C2, 0) >> 32 == 0x1


@pytest.mark.parametrize(
    "args",
    [(0x1000, 0), (-1, 0), (0xC3, 0x100), (0xC3, 0, 2), (0xC3, 0, 0, 2), (0xC3, 0, 0, 0, 256)],
)
def test_encode_raw_rejects_out_of_range(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        encode_raw(*args)


# --------------------------------------------------------------------------------------------
# resolve / event_names


def test_generic_events_resolve_everywhere() -> None:
    for cpu in [*ALL_CPUS, ("SomeOtherVendor", 1, 2)]:
        spec = resolve("page-faults", *cpu)
        assert (spec.type, spec.config, spec.hardware) == (PERF_TYPE_SOFTWARE, 2, False)
        assert resolve("task-clock", *cpu).config == 1
        assert resolve("context-switches", *cpu).config == 3
        assert resolve("cpu-migrations", *cpu).config == 4
        cycles = resolve("cycles", *cpu)
        assert (cycles.type, cycles.config, cycles.hardware) == (PERF_TYPE_HARDWARE, 0, True)
        assert resolve("instructions", *cpu).config == 1
        assert resolve("branch-misses", *cpu).config == 5


def test_resolve_is_case_insensitive_and_canonicalises_name() -> None:
    spec = resolve("machine_clears.smc", *SKYLAKE)
    assert spec.name == "MACHINE_CLEARS.SMC"
    assert (spec.type, spec.config, spec.hardware) == (PERF_TYPE_RAW, 0x04C3, True)
    assert resolve("  Page-Faults ", *SKYLAKE).name == "page-faults"
    assert resolve("SMC-CLEARS", *SKYLAKE).name == "smc-clears"


@pytest.mark.parametrize(
    ("cpu", "config", "proxy", "verified"),
    [
        (SKYLAKE, 0x04C3, False, True),
        (ICELAKE, 0x04C3, False, True),
        (HASWELL, 0x04C3, False, True),
        (NEHALEM, 0x04C3, False, True),
        (GOLDMONT, 0x01C3, False, True),  # Atom encoding
        (ZEN2, 0x86, False, False),  # bp_snp_re_sync: documented for cross-modifying code
        (ZEN3, 0x96, True, False),  # resyncs_or_nc_redirects: perf lists it for Zen 4 only
        (ZEN4, 0x96, True, True),
        (ZEN5, 0x019F, True, True),  # bp_redirects.resync
    ],
)
def test_smc_clears_alias_per_cpu(
    cpu: tuple[str, int, int], config: int, proxy: bool, verified: bool
) -> None:
    spec = resolve("smc-clears", *cpu)
    assert spec.name == "smc-clears"
    assert (spec.type, spec.config, spec.hardware) == (PERF_TYPE_RAW, config, True)
    assert (spec.proxy, spec.verified) == (proxy, verified)
    assert spec.note


@pytest.mark.parametrize(
    ("cpu", "config", "proxy"),
    [
        (ICELAKE, 0x80C5, False),  # BR_MISP_RETIRED.INDIRECT
        (SKYLAKE, 0x02C5, True),  # BR_MISP_RETIRED.NEAR_CALL
        (HASWELL, 0xE489, True),  # BR_MISP_EXEC.INDIRECT
        (ZEN2, 0xCA, False),
        (ZEN4, 0xCA, False),
        (ZEN5, 0xCA, False),
    ],
)
def test_indirect_mispredicts_alias_per_cpu(
    cpu: tuple[str, int, int], config: int, proxy: bool
) -> None:
    spec = resolve("indirect-mispredicts", *cpu)
    assert (spec.config, spec.proxy) == (config, proxy)


def test_intel_generation_specific_encodings() -> None:
    assert resolve("MACHINE_CLEARS.COUNT", *SKYLAKE).config == 0x010401C3
    assert resolve("MACHINE_CLEARS.MEMORY_ORDERING", *ICELAKE).config == 0x02C3
    assert resolve("INT_MISC.RECOVERY_CYCLES", *SKYLAKE).config == 0x010D
    assert resolve("INT_MISC.RECOVERY_CYCLES", *HASWELL).config == 0x0100030D
    assert resolve("INT_MISC.CLEAR_RESTEER_CYCLES", *ICELAKE).config == 0x800D
    assert resolve("BR_MISP_RETIRED.ALL_BRANCHES", *NEHALEM).config == 0x00C5
    assert resolve("BR_MISP_RETIRED.INDIRECT_CALL", *ICELAKE).config == 0x02C5
    assert not resolve("INT_MISC.RECOVERY_CYCLES", *HASWELL).verified


def test_amd_family_specific_events() -> None:
    smc_inval = resolve("L2RequestG2.SmcInval", *ZEN2)  # the EVENTS.md spelling
    assert (smc_inval.name, smc_inval.config) == ("l2_request_g2.smc_inval", 0x0461)
    assert resolve("ic_cache_inval", *ZEN2).config == 0x038C
    assert resolve("l2_request_g1.group2", *ZEN3).config == 0x0160
    assert resolve("bp_redirects.resync", *ZEN5).config == 0x019F
    assert resolve("ex_ret_brn_misp", *ZEN4).config == 0xC3
    assert resolve("ex_ret_ucode_ops", *ZEN4).config == 0x1_0000_00C2


def test_perf_raw_syntax() -> None:
    spec = resolve("r04c3", *ZEN4)
    assert (spec.type, spec.config, spec.hardware, spec.verified) == (
        PERF_TYPE_RAW,
        0x4C3,
        True,
        False,
    )


def test_unknown_name_raises_with_suggestions() -> None:
    with pytest.raises(UnknownEvent) as info:
        resolve("page-fualts", *ZEN4)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'page-fualts'" in message and "did you mean 'page-faults'" in message
    assert "smc-clears" in message  # lists the valid names
    assert "\n" not in message and message.endswith(".")


def test_name_from_another_cpu_says_not_available() -> None:
    with pytest.raises(UnknownEvent, match=r"not available on AuthenticAMD family 0x19") as info:
        resolve("MACHINE_CLEARS.SMC", *ZEN4)
    assert "Intel" in str(info.value)
    with pytest.raises(UnknownEvent, match="not available"):
        resolve("bp_redirects.resync", *ZEN3)
    with pytest.raises(UnknownEvent, match="not available"):
        resolve("indirect-mispredicts", *NEHALEM)
    with pytest.raises(UnknownEvent, match="not available"):
        resolve("smc-clears", "SomeOtherVendor", 1, 2)


def test_event_names_per_cpu() -> None:
    zen4 = event_names(*ZEN4)
    assert {"cycles", "page-faults", "task-clock", "smc-clears", "indirect-mispredicts"} <= set(
        zen4
    )
    assert "resyncs_or_nc_redirects" in zen4 and "MACHINE_CLEARS.SMC" not in zen4
    skl = event_names(*SKYLAKE)
    assert "MACHINE_CLEARS.SMC" in skl and "BR_MISP_RETIRED.NEAR_CALL" in skl
    assert "BR_MISP_RETIRED.INDIRECT" not in skl
    assert len(skl) == len({n.lower() for n in skl})


def _table_cpus() -> list[tuple[str, int, int]]:
    """Every (vendor, family, model) that some cpu set in the table can match."""
    leaves = {leaf for c in events_mod._table().cpusets.values() for leaf in c.leaves}
    families = {(leaf.vendor, leaf.family) for leaf in leaves}
    vendor_case = {"genuineintel": INTEL, "authenticamd": AMD}
    return [(vendor_case[v], f, m) for v, f in sorted(families) for m in range(256)]


def test_table_every_listed_name_resolves_unambiguously() -> None:
    table = events_mod._table()
    for cpu in _table_cpus():
        names = event_names(*cpu)
        for name in names:
            spec = resolve(name, *cpu)
            assert isinstance(spec, EventSpec) and spec.note
        for rows in (table.raw, table.aliases):
            matching = [
                n
                for row in rows
                if events_mod._on(row.cpus, *cpu)
                for n in getattr(row, "spellings", (row.name.lower(),))
            ]
            assert len(matching) == len(set(matching)), f"ambiguous rows for {cpu}"


def test_table_entries_all_carry_notes() -> None:
    table = events_mod._table()
    assert all(spec.note for spec in table.generic.values())
    assert all(row.note for row in (*table.raw, *table.aliases))
    assert all(c.label for c in table.cpusets.values())


# --------------------------------------------------------------------------------------------
# perf_event_open path (software events count here; hardware ones may be unavailable)


def _software(*names: str) -> list[EventSpec]:
    return [resolve(n, *HOST) for n in names]


@pytest.fixture(scope="module", autouse=False)
def perf_works() -> None:
    reason = probe(_software("task-clock"))["task-clock"]
    if reason is not None:
        pytest.skip(f"perf_event_open unusable here: {reason}")


def _touch_pages(count: int) -> mmap.mmap:
    """A fresh private anonymous mapping, THP off so every page is its own fault."""
    region = mmap.mmap(-1, count * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        region.madvise(mmap.MADV_NOHUGEPAGE)
    return region


def test_attr_struct_layout() -> None:
    import ctypes

    assert ctypes.sizeof(perf_mod.PerfEventAttr) == 136
    attr = perf_mod.PerfEventAttr()
    attr.disabled = attr.exclude_kernel = attr.exclude_hv = 1
    flags = int.from_bytes(bytes(attr)[40:48], "little")
    assert flags == 0b110_0001  # bits 0 (disabled), 5 (exclude_kernel), 6 (exclude_hv)


@pytest.mark.usefixtures("perf_works")
def test_page_faults_count_touched_pages() -> None:
    pages = 64
    with CounterGroup(_software("page-faults", "task-clock")) as group:
        region = _touch_pages(pages)
        try:
            group.start()
            for i in range(pages):
                region[i * PAGE] = 1
            values = group.stop()
        finally:
            region.close()
    assert values["page-faults"] is not None and values["page-faults"] >= pages
    assert values["task-clock"] is not None and values["task-clock"] > 0
    assert group.scale is not None and group.scale >= 1.0
    assert group.raw["page-faults"] >= pages and isinstance(group.raw["page-faults"], int)
    assert group.time_running > 0


@pytest.mark.usefixtures("perf_works")
def test_group_can_be_restarted() -> None:
    with CounterGroup(_software("page-faults")) as group:
        for _ in range(2):
            region = _touch_pages(8)
            group.start()
            for i in range(8):
                region[i * PAGE] = 1
            values = group.stop()
            region.close()
            assert values["page-faults"] is not None and values["page-faults"] >= 8


@pytest.mark.usefixtures("perf_works")
def test_hardware_events_counted_or_reported_unavailable() -> None:
    names = ["cycles", "instructions", "branch-misses", "smc-clears", "task-clock"]
    specs = [resolve(n, *HOST) for n in names if n in event_names(*HOST)]
    with CounterGroup(specs) as group:
        group.start()
        sum(range(10_000))
        values = group.stop()
    assert set(values) == {s.name for s in specs}
    assert values["task-clock"] is not None
    for spec in specs:
        value = values[spec.name]
        if value is None:
            reason = group.unavailable[spec.name]
            assert reason.startswith("unavailable: ")
            assert spec.name not in group.available
        else:
            assert isinstance(value, float) and math.isfinite(value) and value >= 0
            assert spec.name in group.available and spec.name not in group.unavailable
    for spec in specs:
        if spec.hardware and spec.name in group.unavailable and not perf_mod.has_core_pmu():
            assert "no hardware PMU" in group.unavailable[spec.name]
            assert ERRNO_IN_REASON.search(group.unavailable[spec.name])


@pytest.mark.usefixtures("perf_works")
def test_probe_reports_reason_or_none() -> None:
    specs = [resolve(n, *HOST) for n in ("task-clock", "page-faults", "cycles", "instructions")]
    result = probe(specs)
    assert set(result) == {s.name for s in specs}
    assert result["task-clock"] is None and result["page-faults"] is None
    for name in ("cycles", "instructions"):
        assert result[name] is None or (result[name].startswith("unavailable: "))
        if not perf_mod.has_core_pmu():
            assert result[name] is not None and ERRNO_IN_REASON.search(result[name])


def test_group_where_nothing_opens_still_starts_and_stops() -> None:
    bogus = EventSpec("bogus", 0x7FFF_FFF0, 0, True, False, "a PMU type that does not exist")
    with CounterGroup([bogus]) as group:
        assert group.available == {}
        assert ERRNO_IN_REASON.search(group.unavailable["bogus"])
        group.start()
        assert group.stop() == {"bogus": None}
        assert group.scale is None


def test_duplicate_names_are_counted_once_and_fds_closed() -> None:
    spec = resolve("task-clock", *HOST)
    group = CounterGroup([spec, spec])
    fds = [fd for _name, fd in group._members]
    assert group.requested == ["task-clock"] and len(fds) <= 1
    group.close()
    group.close()  # idempotent
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    with pytest.raises(RuntimeError):
        group.start()


def test_stop_without_start_is_an_error() -> None:
    with CounterGroup(_software("task-clock")) as group, pytest.raises(RuntimeError):
        group.stop()


def test_permission_reason_mentions_paranoid_setting() -> None:
    spec = resolve("cycles", *HOST)
    for err in (errno.EACCES, errno.EPERM):
        reason = perf_mod._reason(err, spec)
        assert "/proc/sys/kernel/perf_event_paranoid" in reason
        assert errno.errorcode[err] in reason
    assert "ENOENT No such file or directory" in perf_mod._reason(errno.ENOENT, spec)
