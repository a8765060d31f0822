"""Experiment specification: a frozen, validated description of one generated loop.

An :class:`Experiment` says *what* code is generated and run and *how* it is measured. Two
workloads share it:

* ``seed``: the seed's loop: copy a payload into an executable buffer, call it, move on;
* ``jit-block``: a JIT emitting a block of code with a write strategy, then calling it.

An assembly experiment (``asm``: the text of a user's file, ``asm_name``: its name) is the seed
workload with the payload, and optionally the writer, taken from the file (see
:mod:`smclab.isa.gas`); every other seed knob applies around it.

Every field carries metadata (its kind, its choices, one line of help), from which the CLI
builds its options and sweeps parse their grids. Every invalid combination is rejected by
:meth:`Experiment.validate` with one sentence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from smclab.isa import gas
from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import STRATEGIES
from smclab.model.knobs import SpecError, check_choice, format_size, knob, parse_size

PAGE = 4096

WORKLOADS = ("seed", "jit-block")
PLACEMENTS = ("after-store", "before-store", "both")
STORE_TARGETS = ("exec", "far", "none")
LAYOUTS = ("far", "near")
CROSS = ("none", "line", "near")
#: where the cross-modifying writer stores, from the executed slot: inside its 64-byte line
#: (a nop byte of a 64-byte payload, never the ret) or two lines further (same page)
CROSS_OFFSET = {"line": 32, "near": 160}
PAYLOAD_OPS = ("ret", "ud2")

DEFAULT_EVENTS = ("smc-clears",)
#: most slots a direct-call loop is unrolled over
MAX_UNROLL = 512
#: the knobs only the seed workload reads
SEED = ("seed",)


@dataclass(frozen=True)
class Experiment:
    """One experiment.

    Seed workload: the loop copies ``payload`` bytes (``ret`` padded with ``pad``) with ``copy``
    to the executable buffer ``ahead`` bytes past the current position (``store='exec'``), to a
    data buffer far from any code (``'far'``) or nowhere (``'none'``), then calls the code at
    the current position with ``call`` and advances it by ``step`` bytes, wrapping at ``buffer``.

    jit-block workload: each iteration writes a ``block``-byte block of code with the write
    ``strategy`` (see :mod:`smclab.isa.strategies`) and calls it.
    """

    workload: str = knob("seed", "choice", "Workload: seed or jit-block.", WORKLOADS)
    buffer: int = knob(
        PAGE, "size", "Executable buffer size (page multiple: 4K, 1M, ...).", applies=SEED
    )
    step: int = knob(0, "size", "Bytes the call target moves each iteration.", applies=SEED)
    payload: int = knob(
        64, "size", "Payload bytes copied each iteration (ret + padding).", applies=SEED
    )
    ahead: int = knob(
        0, "size", "Write-ahead distance: store to exec+A (mod buffer).", applies=SEED
    )
    origin: int = knob(0, "size", "Offset of the executed slot when step is 0.", applies=SEED)
    batch: int = knob(
        1,
        "int",
        "Write this many consecutive payloads at once, every that many"
        " iterations (needs step = payload).",
        applies=SEED,
    )
    prefetch: str = knob(
        "none",
        "choice",
        "Prefetch the next write destination before each write.",
        vocab.PREFETCHES,
        applies=SEED,
    )
    copy: str = knob("rep-movsb", "choice", "Copy method.", vocab.COPIES, applies=SEED)
    store: str = knob("exec", "choice", "Where the copy goes.", STORE_TARGETS, applies=SEED)
    barrier: str = knob("none", "choice", "Barrier.", vocab.BARRIERS, applies=SEED)
    placement: str = knob("after-store", "choice", "Barrier placement.", PLACEMENTS, applies=SEED)
    call: str = knob("indirect", "choice", "Call kind.", vocab.CALLS, applies=SEED)
    pad: str = knob(
        "nop", "choice", "What pads the payload after its ret.", vocab.PADS, applies=SEED
    )
    cross: str = knob(
        "none",
        "choice",
        "Cross-modifying writer thread on another CPU: stores"
        " into the executed line, or two lines away (near).",
        CROSS,
        applies=SEED,
    )
    layout: str = knob(
        "far",
        "choice",
        "Code-to-buffer distance: far (4 TiB, as a C program's"
        " .text and its mmap) or near (1 MiB; direct calls need it).",
        LAYOUTS,
        applies=SEED,
    )
    op: str = knob(
        "ret",
        "choice",
        "The payload's instruction (ud2 faults).",
        PAYLOAD_OPS,
        hidden=True,
        applies=SEED,
    )
    block: int = knob(
        1024, "size", "jit-block: bytes of code written per iteration.", applies=("jit-block",)
    )
    strategy: str = knob(
        "plain",
        "strategy",
        "jit-block: write strategy (see `smclab catalog`).",
        applies=("jit-block",),
    )
    # -- user assembly --
    asm: str = knob(
        "",
        "asm",
        "Assembly experiment FILE: its payload (and write, init) sections replace the"
        " seed's payload (and copy); register contract in README.md, examples in examples/.",
        applies=SEED,
        column=False,
    )
    asm_name: str = knob(
        "", "text", "The assembly file's name (labels it).", hidden=True, applies=SEED
    )
    iterations: int | None = knob(
        None, "int", "Iterations per repeat (default: calibrated).", measure=True
    )
    repeats: int = knob(5, "int", "Timed repeats.", measure=True)
    min_ms: float = knob(
        20.0, "float", "Calibrate so one repeat lasts at least this long.", measure=True
    )
    events: tuple[str, ...] = knob(
        DEFAULT_EVENTS, "events", "Counters (see `smclab host`).", measure=True
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        self.validate()

    # -- validation -------------------------------------------------------------------
    def validate(self) -> None:
        check_choice("workload", self.workload, WORKLOADS)
        foreign = [n for n in KNOBS if not applies(n, self.workload) and not self._default(n)]
        if foreign:
            verb = "applies" if len(foreign) == 1 else "apply"
            owners = sorted({w for n in foreign for w in _FIELDS[n].metadata["applies"]})
            raise SpecError(
                f"{', '.join(foreign)} only {verb} to the {' and '.join(owners)} workload"
                + ("s" if len(owners) > 1 else "")
            )
        getattr(self, _VALIDATORS[self.workload])()
        if self.iterations is not None and not 1 <= self.iterations <= 10**10:
            raise SpecError(f"iterations must be between 1 and 1e10, got {self.iterations}")
        if not 1 <= self.repeats <= 1000:
            raise SpecError(f"repeats must be between 1 and 1000, got {self.repeats}")
        if not 0.1 <= self.min_ms <= 60_000:
            raise SpecError(f"min-ms must be between 0.1 and 60000, got {self.min_ms}")

    def _validate_seed(self) -> None:
        b, s, a, p = self.buffer, self.step, self.ahead, self.payload
        if b < PAGE or b % PAGE:
            raise SpecError(f"buffer must be a positive multiple of the 4K page, got {b} bytes")
        if b > 1 << 30:
            raise SpecError(f"buffer must be at most 1G, got {format_size(b)}")
        if s < 0:
            raise SpecError(f"step must be >= 0, got {s}")
        if s >= b:
            raise SpecError(f"step ({s}) must be smaller than the buffer ({b} bytes)")
        if not 1 <= p <= min(b, 1 << 20):
            raise SpecError(f"payload must be between 1 byte and the buffer size, got {p}")
        for name in (
            "copy",
            "store",
            "barrier",
            "placement",
            "call",
            "pad",
            "cross",
            "layout",
            "prefetch",
            "op",
        ):
            check_choice(name, getattr(self, name), _FIELDS[name].metadata["choices"])
        width = vocab.COPIES[self.copy].width
        if p % width:
            raise SpecError(
                f"copy '{self.copy}' moves {width}-byte units: payload {p} is not a"
                f" multiple of {width}"
            )
        last = (b - 1) // s * s if s else self.origin
        if s and self.origin:
            raise SpecError("origin only applies with step 0")
        if not 0 <= self.origin <= b - p:
            raise SpecError(
                f"origin must be between 0 and buffer - payload ({b - p}), got {self.origin}"
            )
        if last + p > b:
            raise SpecError(
                f"a {p}-byte payload at the last step position ({last}) overruns the"
                f" {b}-byte buffer"
            )
        if a and self.store != "exec":
            raise SpecError("a write-ahead distance needs store 'exec'")
        if s == 0:
            if not 0 <= self.origin + a <= b - p:
                raise SpecError(
                    f"with step 0 the store at origin+ahead ({self.origin + a}) must"
                    f" lie in the buffer (0..{b - p})"
                )
            if -p < a < 0:
                raise SpecError(
                    f"a store {a} bytes before the executed slot would overwrite its"
                    f" ret: use a payload of at most {abs(a)} bytes"
                )
        elif a:
            if not 0 < a < b:
                raise SpecError(f"ahead must be between 0 and the buffer size, got {a}")
            if a % s or b % s:
                raise SpecError(
                    f"with a write-ahead distance, ahead ({a}) and the buffer ({b})"
                    f" must be multiples of the step ({s})"
                )
        if vocab.COPIES[self.copy].aligned:
            for what, v in (("step", s), ("origin", self.origin), ("ahead", a)):
                if v % width:
                    raise SpecError(
                        f"'{self.copy}' stores need {width}-byte aligned destinations:"
                        f" {what} {v} is not a multiple of {width}"
                    )
        if self.batch != 1:
            k = self.batch
            if not 1 <= k <= 64:
                raise SpecError(f"batch must be between 1 and 64, got {k}")
            if self.store != "exec" or s != p or b % (k * s) or a % (k * s):
                raise SpecError(
                    f"batch {k} writes {k} consecutive slots: it needs store 'exec',"
                    f" step = payload, and the buffer and ahead multiples of {k * s}"
                )
        if self.prefetch != "none" and (self.store != "exec" or not s):
            raise SpecError("prefetch needs store 'exec' and a step")
        if self.cross != "none" and s:
            raise SpecError("a cross-modifying writer needs a fixed executed slot (step 0)")
        if self.cross != "none" and self.origin + CROSS_OFFSET[self.cross] >= b:
            raise SpecError(
                f"the '{self.cross}' writer stores {CROSS_OFFSET[self.cross]} bytes"
                f" past the origin ({self.origin}): outside the {b}-byte buffer"
            )
        call = vocab.CALLS[self.call]
        if call.near and self.layout != "near":
            raise SpecError(
                f"call kind '{call.name}' needs layout 'near' (a call rel32 reaches 2 GiB)"
            )
        if call.unrolled and s and (b % s or b // s > MAX_UNROLL):
            raise SpecError(
                f"call kind '{call.name}' with a step unrolls the loop over the ring: the"
                f" step must divide the buffer into at most {MAX_UNROLL} slots"
            )
        if call.source and self.store == "none":
            raise SpecError(f"call kind '{call.name}' with store 'none' runs no copy at all")
        self._validate_asm()

    def _validate_asm(self) -> None:
        """What can be said of an assembly experiment without assembling it (smclab.isa.gas
        assembles and checks the code before it runs)."""
        if not self.asm:
            if self.asm_name:
                raise SpecError("asm-name names an assembly file: give --asm FILE")
            return
        sections = gas.declared_sections(self.asm)
        if "payload" not in sections:
            raise SpecError(f"{self.asm_name or 'the assembly'} has no '.section payload'")
        mine = [("op", "the payload's instruction"), ("cross", "a writer into the seed's payload")]
        if "write" in sections:  # the seed's writer's own knobs
            mine += [("copy", "the seed's copy"), ("batch", "the seed's batched copy")]
        for name, what in mine:
            if not self._default(name):
                raise SpecError(
                    f"{name} sets {what}: it does not apply to an assembly experiment"
                    + (" with a write section" if name in ("copy", "batch") else "")
                )

    def _validate_jit(self) -> None:
        check_choice("strategy", self.strategy, STRATEGIES)
        if not 64 <= self.block <= 1 << 20 or self.block % 64:
            raise SpecError(f"block must be a multiple of 64 between 64 and 1M, got {self.block}")

    def _default(self, name: str) -> bool:
        return bool(getattr(self, name) == _FIELDS[name].default)

    def _needs(self) -> list[tuple[str, tuple[str, ...]]]:
        """(knob value, the CPU flags it needs) for this experiment."""
        if self.workload == "jit-block":
            return [(self.strategy, STRATEGIES[self.strategy].features)]
        records: list[vocab.Term] = [
            vocab.BARRIERS[self.barrier],
            vocab.COPIES[self.copy],
            vocab.PREFETCHES[self.prefetch],
        ]
        return [(r.name, r.flags) for r in records]

    def required_flags(self) -> tuple[str, ...]:
        """CPU flags this experiment needs to run without a SIGILL."""
        return tuple(f for _, flags in self._needs() for f in flags)

    def check_host(self, cpu_flags: set[str] | frozenset[str]) -> None:
        """Reject, before running, what this CPU cannot execute."""
        for value, flags in self._needs():
            for flag in flags:
                if flag not in cpu_flags:
                    raise SpecError(f"'{value}' needs the CPU flag '{flag}', which this CPU lacks")

    # -- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["events"] = list(self.events)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise SpecError(f"unknown experiment field(s): {', '.join(unknown)}")
        return cls(**data)

    def canonical(self) -> dict[str, Any]:
        """The fields that differ from their defaults (plus the workload): what identifies the
        experiment, so a knob added later (at its default) changes no existing key."""
        d = self.to_dict()
        return {k: v for k, v in d.items() if k == "workload" or not self._default(k)}

    def code_key(self) -> str:
        """A stable hash of what is generated and measured (not of the event list)."""
        d = self.canonical()
        d.pop("events", None)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def knob_key(self) -> str:
        """A stable hash of the knobs only: the same experiment however it was measured."""
        d = {k: v for k, v in self.canonical().items() if k in KNOBS}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        """A short name listing the knobs that differ from the defaults."""
        if self.workload == "jit-block":
            return f"jit {self.strategy} {format_size(self.block)}"
        parts = [f"{format_size(self.buffer)}/{self.step}"]
        if self.asm:
            parts.insert(0, self.asm_name or "asm")
        defaults = Experiment.__dataclass_fields__
        for name in (
            "payload",
            "ahead",
            "origin",
            "batch",
            "copy",
            "store",
            "call",
            "pad",
            "cross",
            "prefetch",
            "layout",
            "op",
        ):
            value = getattr(self, name)
            if value != defaults[name].default:
                parts.append(f"{name}={value}")
        if self.barrier != "none":
            parts.append(f"{self.barrier}@{self.placement}")
        return " ".join(parts)


_FIELDS = {f.name: f for f in dataclasses.fields(Experiment)}
#: knobs (not measurement settings), in declaration order
KNOBS = tuple(n for n, f in _FIELDS.items() if not f.metadata.get("measure"))
#: workload -> the Experiment method that validates its knobs
_VALIDATORS = {"seed": "_validate_seed", "jit-block": "_validate_jit"}


def applies(name: str, workload: str) -> bool:
    """Whether knob ``name`` means something to ``workload`` (a knob's ``applies`` metadata
    lists its workloads; without it, a knob applies to all)."""
    owners = _FIELDS[name].metadata.get("applies")
    return owners is None or workload in owners


SEED_ONLY = tuple(n for n in KNOBS if not applies(n, "jit-block"))


def field_meta(name: str) -> dict[str, Any]:
    """The field's metadata; ``choices`` as a tuple, read now from its registry."""
    meta = dict(_FIELDS[name].metadata)
    meta["choices"] = tuple(meta["choices"])
    return meta


def field_default(name: str) -> Any:
    return _FIELDS[name].default


def field_name(text: str) -> str:
    """The Experiment field a knob name means (``min-ms`` -> ``min_ms``), or SpecError."""
    key = text.replace("-", "_")
    if key not in _FIELDS:
        raise SpecError(f"unknown knob '{text}' (knobs: {', '.join(_FIELDS)})")
    return key


def parse_value(name: str, text: str) -> Any:
    """Parse one option value of field ``name`` from text (sizes accept K/M/G)."""
    name = field_name(name)
    kind = _FIELDS[name].metadata["kind"]
    if kind == "size":
        return parse_size(text)
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise SpecError(f"{name} must be a number, got '{text}'") from None
    if kind == "events":
        return tuple(e.strip() for e in str(text).split(",") if e.strip())
    return str(text)
