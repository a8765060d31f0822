"""Event names -> perf_event_open (type, config), resolved per CPU vendor/family/model.

The table itself is data (``events.toml`` next to this file); this module loads it, encodes raw
events and resolves names. Names are case-insensitive. Three kinds of names exist:

* generic perf names (``cycles``, ``page-faults``, ...) valid on every CPU;
* vendor raw events (``MACHINE_CLEARS.SMC``, ``ex_ret_brn_ind_misp``, ...) valid on the CPU sets
  listed in the table, with the encoding of that CPU generation;
* portable aliases (``smc-clears``, ``indirect-mispredicts``) that map to a raw event per CPU.

``r<hex>`` (perf's raw syntax, e.g. ``r04c3``) is accepted as an explicit raw config too.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_RAW = 4

_TYPES = {"hardware": PERF_TYPE_HARDWARE, "software": PERF_TYPE_SOFTWARE}
_RAW_SYNTAX = re.compile(r"r([0-9a-f]{1,16})")


@dataclass(frozen=True)
class EventSpec:
    """One openable event: perf ``type``/``config`` plus what a reader needs to trust it.

    ``hardware`` is true for events that need the CPU's PMU (hardware and raw types);
    ``proxy`` is true when the event is a stand-in, not a dedicated counter for what the name
    says; ``verified`` is false where the event table could not confirm the encoding.
    """

    name: str
    type: int
    config: int
    hardware: bool
    proxy: bool
    note: str
    verified: bool = True


class UnknownEvent(ValueError):
    """An event name that does not resolve on the given CPU."""


def encode_raw(event: int, umask: int, edge: int = 0, inv: int = 0, cmask: int = 0) -> int:
    """Encode an x86 raw PMU event as a PERF_TYPE_RAW config.

    config = event[7:0] | umask << 8 | edge << 18 | inv << 23 | cmask << 24, and for AMD event
    numbers above 0xFF, event[11:8] goes to config bits 35:32.
    """
    if not 0 <= event <= 0xFFF:
        raise ValueError(f"event number 0x{event:X} is outside 0x000-0xFFF")
    if not 0 <= umask <= 0xFF:
        raise ValueError(f"umask 0x{umask:X} is outside 0x00-0xFF")
    if not 0 <= cmask <= 0xFF:
        raise ValueError(f"cmask {cmask} is outside 0-255")
    if edge not in (0, 1) or inv not in (0, 1):
        raise ValueError("edge and inv must be 0 or 1")
    return (
        (event & 0xFF)
        | (umask << 8)
        | (int(edge) << 18)
        | (int(inv) << 23)
        | (cmask << 24)
        | (((event >> 8) & 0xF) << 32)
    )


# --------------------------------------------------------------------------------------------
# Table loading


@dataclass(frozen=True)
class _Leaf:
    vendor: str  # lower case
    family: int
    models: frozenset[int] | None  # None: every model

    def matches(self, vendor: str, family: int, model: int) -> bool:
        return (
            vendor.lower() == self.vendor
            and family == self.family
            and (self.models is None or model in self.models)
        )


@dataclass(frozen=True)
class _CpuSet:
    key: str
    label: str
    leaves: tuple[_Leaf, ...]
    is_leaf: bool

    def matches(self, vendor: str, family: int, model: int) -> bool:
        return any(leaf.matches(vendor, family, model) for leaf in self.leaves)


@dataclass(frozen=True)
class _RawRow:
    name: str
    alternates: tuple[str, ...]  # other accepted spellings (e.g. the EVENTS.md name)
    cpus: tuple[_CpuSet, ...]
    event: int
    umask: int
    edge: int
    inv: int
    cmask: int
    note: str
    verified: bool

    @property
    def spellings(self) -> tuple[str, ...]:
        return tuple(n.lower() for n in (self.name, *self.alternates))

    @property
    def config(self) -> int:
        return encode_raw(self.event, self.umask, self.edge, self.inv, self.cmask)

    def encoding(self) -> str:
        text = f"event 0x{self.event:02X} umask 0x{self.umask:02X}"
        for field in ("edge", "inv", "cmask"):
            value = getattr(self, field)
            if value:
                text += f" {field}={value}"
        return text


@dataclass(frozen=True)
class _AliasRow:
    name: str
    cpus: tuple[_CpuSet, ...]
    target: str
    proxy: bool
    note: str
    verified: bool


@dataclass(frozen=True)
class _Table:
    cpusets: dict[str, _CpuSet]
    generic: dict[str, EventSpec]  # lower name -> spec
    raw: tuple[_RawRow, ...]
    aliases: tuple[_AliasRow, ...]


def _parse_models(spec: list[Any]) -> frozenset[int]:
    models: set[int] = set()
    for item in spec:
        if isinstance(item, list):
            lo, hi = item
            models.update(range(lo, hi + 1))
        else:
            models.add(int(item))
    return frozenset(models)


def _build_cpusets(raw: dict[str, dict[str, Any]]) -> dict[str, _CpuSet]:
    done: dict[str, _CpuSet] = {}

    def build(key: str, stack: tuple[str, ...]) -> _CpuSet:
        if key in done:
            return done[key]
        if key in stack:
            raise ValueError(f"events.toml: cpu set include cycle through {key!r}")
        if key not in raw:
            raise ValueError(f"events.toml: unknown cpu set {key!r}")
        entry = raw[key]
        if "includes" in entry:
            leaves: list[_Leaf] = []
            for sub in entry["includes"]:
                leaves.extend(build(sub, (*stack, key)).leaves)
            cpuset = _CpuSet(key, entry.get("label", key), tuple(leaves), is_leaf=False)
        else:
            models = _parse_models(entry["models"]) if "models" in entry else None
            leaf = _Leaf(entry["vendor"].lower(), int(entry["family"]), models)
            cpuset = _CpuSet(key, entry.get("label", key), (leaf,), is_leaf=True)
        done[key] = cpuset
        return cpuset

    for key in raw:
        build(key, ())
    return done


@functools.cache
def _table() -> _Table:
    text = resources.files(__package__).joinpath("events.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    cpusets = _build_cpusets(data.get("cpu", {}))

    def cpus_of(row: dict[str, Any]) -> tuple[_CpuSet, ...]:
        try:
            return tuple(cpusets[key] for key in row["cpus"])
        except KeyError as exc:
            raise ValueError(f"events.toml: {row['name']!r} uses unknown cpu set {exc}") from None

    generic: dict[str, EventSpec] = {}
    for row in data.get("generic", []):
        kind = _TYPES[row["type"]]
        generic[row["name"].lower()] = EventSpec(
            name=row["name"],
            type=kind,
            config=int(row["config"]),
            hardware=kind == PERF_TYPE_HARDWARE,
            proxy=False,
            note=row["note"],
            verified=row.get("verified", True),
        )
    raw_rows = tuple(
        _RawRow(
            name=row["name"],
            alternates=tuple(row.get("aliases", [])),
            cpus=cpus_of(row),
            event=int(row["event"]),
            umask=int(row["umask"]),
            edge=int(row.get("edge", 0)),
            inv=int(row.get("inv", 0)),
            cmask=int(row.get("cmask", 0)),
            note=row["note"],
            verified=row.get("verified", True),
        )
        for row in data.get("raw", [])
    )
    alias_rows = tuple(
        _AliasRow(
            name=row["name"],
            cpus=cpus_of(row),
            target=row["target"],
            proxy=row.get("proxy", False),
            note=row["note"],
            verified=row.get("verified", True),
        )
        for row in data.get("alias", [])
    )
    for row in raw_rows:
        row.config  # noqa: B018 - validates the encoding at load time
    return _Table(cpusets, generic, raw_rows, alias_rows)


# --------------------------------------------------------------------------------------------
# Resolution


def _on(cpus: tuple[_CpuSet, ...], vendor: str, family: int, model: int) -> bool:
    return any(c.matches(vendor, family, model) for c in cpus)


def _find_raw(key: str, vendor: str, family: int, model: int) -> _RawRow | None:
    for row in _table().raw:
        if key in row.spellings and _on(row.cpus, vendor, family, model):
            return row
    return None


def _find_alias(key: str, vendor: str, family: int, model: int) -> _AliasRow | None:
    for row in _table().aliases:
        if row.name.lower() == key and _on(row.cpus, vendor, family, model):
            return row
    return None


def _cpu_text(vendor: str, family: int, model: int) -> str:
    text = f"{vendor} family 0x{family:X} model 0x{model:02X}"
    labels = [
        c.label for c in _table().cpusets.values() if c.is_leaf and c.matches(vendor, family, model)
    ]
    return f"{text} ({labels[0]})" if labels else text


def _raw_spec(row: _RawRow, name: str | None = None, **extra: Any) -> EventSpec:
    return EventSpec(
        name=name or row.name,
        type=PERF_TYPE_RAW,
        config=row.config,
        hardware=True,
        proxy=extra.get("proxy", False),
        note=extra.get("note", f"{row.name} ({row.encoding()}): {row.note}"),
        verified=extra.get("verified", row.verified),
    )


def resolve(name: str, vendor: str, family: int, model: int) -> EventSpec:
    """Resolve an event name for a CPU (vendor string as in CPUID, e.g. ``"GenuineIntel"``).

    Raises UnknownEvent for names that are unknown or not available on that CPU.
    """
    key = name.strip().lower()
    table = _table()
    if key in table.generic:
        return table.generic[key]
    alias = _find_alias(key, vendor, family, model)
    if alias is not None:
        target = _find_raw(alias.target.lower(), vendor, family, model)
        if target is None:
            raise UnknownEvent(
                f"alias {alias.name!r} points at {alias.target!r}, which events.toml does not "
                f"define for {_cpu_text(vendor, family, model)}."
            )
        kind = "proxy for" if alias.proxy else "="
        return _raw_spec(
            target,
            name=alias.name,
            proxy=alias.proxy,
            verified=alias.verified and target.verified,
            note=f"{alias.name} {kind} {target.name} ({target.encoding()}): {alias.note}",
        )
    row = _find_raw(key, vendor, family, model)
    if row is not None:
        return _raw_spec(row)
    match = _RAW_SYNTAX.fullmatch(key)
    if match:
        return EventSpec(
            name=key,
            type=PERF_TYPE_RAW,
            config=int(match.group(1), 16),
            hardware=True,
            proxy=False,
            note=f"raw config 0x{int(match.group(1), 16):X} given directly; not checked "
            "against the event table.",
            verified=False,
        )
    raise UnknownEvent(_unknown_message(name, key, vendor, family, model))


def _unknown_message(name: str, key: str, vendor: str, family: int, model: int) -> str:
    table = _table()
    cpu = _cpu_text(vendor, family, model)
    valid = event_names(vendor, family, model)
    rows: list[_RawRow | _AliasRow] = [*table.raw, *table.aliases]
    elsewhere = [
        c.label
        for row in rows
        if key in (row.spellings if isinstance(row, _RawRow) else (row.name.lower(),))
        for c in row.cpus
    ]
    if elsewhere:
        where = ", ".join(dict.fromkeys(elsewhere))
        return (
            f"event {name!r} is not available on {cpu}: the table defines it only for {where}; "
            f"names available here: {', '.join(valid)}."
        )
    close = difflib.get_close_matches(key, [v.lower() for v in valid], n=3, cutoff=0.5)
    lookup = {v.lower(): v for v in valid}
    hint = f"did you mean {' or '.join(repr(lookup[c]) for c in close)}? " if close else ""
    return f"unknown event {name!r} for {cpu}; {hint}valid names: {', '.join(valid)}."


def event_names(vendor: str, family: int, model: int) -> list[str]:
    """Every name (canonical spellings and accepted alternates) resolvable on that CPU."""
    table = _table()
    names = [spec.name for spec in table.generic.values()]
    names += [a.name for a in table.aliases if _on(a.cpus, vendor, family, model)]
    for row in table.raw:
        if _on(row.cpus, vendor, family, model):
            names.append(row.name)
            names += row.alternates
    out: list[str] = []
    seen: set[str] = set()
    for n in names:
        if n.lower() not in seen:
            seen.add(n.lower())
            out.append(n)
    return out
