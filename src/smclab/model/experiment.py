"""Experiment specification: a frozen, validated description of one generated loop.

An :class:`Experiment` says *what* code is generated and run and *how* it is measured. Two
workloads share it:

* ``seed``: the seed's loop: copy a payload into an executable buffer, call it, move on;
* ``jit-block``: a JIT writing a block of code with a write strategy, then calling it;
* ``jit-emit``: a JIT's assembler emitting a block instruction by instruction (1-4 byte stores,
  immediates that change every iteration) with a write strategy, then calling it.

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

from smclab.errors import SpecError
from smclab.isa import gas
from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import EMIT_STRATEGIES, STRATEGIES
from smclab.model.knobs import check_choice, format_size, knob, parse_size

PAGE = 4096

WORKLOADS = ("seed", "jit-block", "jit-emit", "patch", "relocate")
PLACEMENTS = ("after-store", "before-store", "both")
STORE_TARGETS = ("exec", "far", "none")
LAYOUTS = ("far", "near")
CROSS = ("none", "line", "near")
#: where the cross-modifying writer stores, from the executed slot: inside its 64-byte line
#: (a nop byte of a 64-byte payload, never the ret) or two lines further (same page)
CROSS_OFFSET = {"line": 32, "near": 160}
PAYLOAD_OPS = ("ret", "ud2")

DEFAULT_EVENTS = ("smc-clears",)
#: most dependent imuls of the chain knob
MAX_CHAIN = 4096
#: the knobs only the seed workload reads
SEED = ("seed",)
PATCH, RELOCATE = ("patch",), ("relocate",)
#: what the patch workload rewrites (see smclab.codegen.patch)
PATCH_KINDS = ("imm", "rel32", "cross", "int3", "link")
#: where a patch's store goes: the code, the same store into data (control), or a data cell
#: the code loads its value from (no code is modified)
PATCH_INTO = ("code", "data", "cell")
#: the executing side of a cross-modifying patch: no protocol, or wait for the writer's flag
#: and serialize with one of these (names of smclab.isa.vocabulary.BARRIERS)
XMC = ("none", "cpuid", "serialize")
PATCH_RATES = tuple(1 << k for k in range(17))
#: relocation schemes (see smclab.codegen.relocate); inplace is the floor
SCHEMES = ("slot", "double", "ring", "trace", "inplace")
#: slots of the relocate ring
RING_SLOTS = 8
EMIT = ("jit-emit",)
#: jit-emit: the instructions the generator emits (see smclab.codegen.emit)
MIXES = ("add-imm32", "mov-imm32", "mixed")
#: jit-emit: store widths of the generator: 1 (bytes only), 4 (dwords only), mixed (opcode
#: bytes one at a time, then the 4-byte immediate, as jit_smc_test)
EMIT_STORES = ("mixed", "1", "4")
#: jit-emit: where the regions of a rotate-N strategy lie
REGION_LAYOUTS = ("contiguous", "paged")
#: jit-emit: the largest block (its generator is a loop; a bound keeps the regions small)
MAX_EMIT_BLOCK = 64 << 10


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
        1024,
        "size",
        "jit-block, jit-emit: bytes of code written per iteration.",
        applies=("jit-block", "jit-emit"),
    )
    strategy: str = knob(
        "plain",
        "strategy",
        "jit-block, jit-emit: write strategy (see `smclab catalog`).",
        applies=("jit-block", "jit-emit"),
    )
    # -- jit-emit --
    mix: str = knob(
        "add-imm32",
        "choice",
        "jit-emit: the instructions emitted: add eax,imm32 (jit_smc_test), mov ecx,imm32"
        " (opcode, ModRM, imm32), or mixed (add, mov and cmp [rsp],imm32: alu + load).",
        MIXES,
        applies=EMIT,
    )
    emit_store: str = knob(
        "mixed",
        "choice",
        "jit-emit: store widths of the generator: mixed (opcode bytes one by one, then a"
        " 4-byte immediate, as jit_smc_test), 1 (bytes only) or 4 (4-byte stores only).",
        EMIT_STORES,
        applies=EMIT,
    )
    region_layout: str = knob(
        "contiguous",
        "choice",
        "jit-emit: the regions of a rotate-N strategy: contiguous (block apart) or paged (each"
        " on its own page at the same page offset, as separate mmaps: the same I-cache sets).",
        REGION_LAYOUTS,
        applies=EMIT,
    )
    # -- patch / relocate --
    patch_kind: str = knob(
        "imm",
        "choice",
        "patch: what is rewritten: an imm32, a call rel32, an imm32 by a writer thread on"
        " another CPU (cross), an int3 over an instruction byte, a jmp rel32 to a new block"
        " (link).",
        PATCH_KINDS,
        applies=PATCH,
    )
    rate: int = knob(
        1,
        "int",
        "patch: patch every N iterations (a power of two: 1, 16, 256, 4096).",
        applies=PATCH,
    )
    patch_into: str = knob(
        "code",
        "choice",
        "patch: where the store goes: the code, data (control: the same stores into data"
        " memory), or a data cell the code loads from (no code modified).",
        PATCH_INTO,
        applies=PATCH,
    )
    xmc: str = knob(
        "none",
        "choice",
        "patch cross: the executing thread's cross-modifying-code protocol: none, or wait"
        " for the writer's flag and serialize (cpuid or serialize).",
        XMC,
        applies=PATCH,
    )
    field_at: int = knob(
        8,
        "int",
        "patch: offset of the patched 4-byte field (int3: byte) in its 64-byte line.",
        applies=PATCH,
    )
    scheme: str = knob(
        "slot",
        "choice",
        "relocate: where each block is copied before it runs: one slot, a double buffer,"
        " a ring written ahead, the whole trace ahead, or in place (never copied).",
        SCHEMES,
        applies=RELOCATE,
    )
    lead: int = knob(
        2,
        "int",
        f"relocate ring: blocks copied ahead of the executing one (1..{RING_SLOTS - 1}).",
        applies=RELOCATE,
    )
    # -- issue 10 probes --
    chain: int = knob(
        0,
        "int",
        "Dependent imuls between the store (and its barrier) and the call; their result"
        " (zero) is added to the call's target register, so the call waits for them.",
        applies=SEED,
    )
    cross_period: int = knob(
        0,
        "int",
        "TSC ticks between two stores of the cross-modifying writer (0: as fast as it can).",
        applies=SEED,
    )
    evict: str = knob(
        "none",
        "choice",
        "After each copy, write back or demote the written line(s).",
        vocab.EVICTS,
        applies=SEED,
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
            "evict",
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
            if self.store == "none" or s != p or b % (k * s) or a % (k * s):
                raise SpecError(
                    f"batch {k} writes {k} consecutive slots: it needs a store ('exec', or"
                    " 'far' for its data control),"
                    f" step = payload, and the buffer and ahead multiples of {k * s}"
                )
        if self.prefetch != "none" and (self.store == "none" or not s):
            raise SpecError(
                "prefetch needs a store ('exec', or 'far' for its data control) and a step"
            )
        if self.cross != "none" and s:
            raise SpecError("a cross-modifying writer needs a fixed executed slot (step 0)")
        if self.cross != "none" and self.origin + CROSS_OFFSET[self.cross] >= b:
            raise SpecError(
                f"the '{self.cross}' writer stores {CROSS_OFFSET[self.cross]} bytes"
                f" past the origin ({self.origin}): outside the {b}-byte buffer"
            )
        self._validate_issue10()
        call = vocab.CALLS[self.call]
        if call.near and self.layout != "near":
            raise SpecError(
                f"call kind '{call.name}' needs layout 'near' (a call rel32 reaches 2 GiB)"
            )
        if call.unrolled and s and b % s:
            raise SpecError(
                f"call kind '{call.name}' with a step unrolls the loop over the ring: the"
                " step must divide the buffer"
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

    def _validate_issue10(self) -> None:
        if not 0 <= self.chain <= MAX_CHAIN:
            raise SpecError(f"chain must be between 0 and {MAX_CHAIN}, got {self.chain}")
        if not 0 <= self.cross_period <= 10**9:
            raise SpecError(
                f"cross-period must be between 0 and 1e9 ticks, got {self.cross_period}"
            )
        if self.cross_period and self.cross == "none":
            raise SpecError("cross-period needs a cross-modifying writer (cross 'line' or 'near')")
        if self.evict != "none" and self.store == "none":
            raise SpecError("evict needs a store ('exec', or 'far' for its data control)")

    def _validate_jit(self) -> None:
        check_choice("strategy", self.strategy, STRATEGIES)
        if not 64 <= self.block <= 1 << 20 or self.block % 64:
            raise SpecError(f"block must be a multiple of 64 between 64 and 1M, got {self.block}")

    def splits_field(self) -> bool:
        """Whether the patched 4-byte field crosses an 8-byte boundary (or a cache line): a
        store to it is not guaranteed atomic, so another thread may fetch a torn instruction."""
        return self.patch_kind != "int3" and self.field_at % 8 > 4

    def _validate_patch(self) -> None:
        for name in ("patch_kind", "patch_into", "xmc"):
            check_choice(name, getattr(self, name), _FIELDS[name].metadata["choices"])
        if self.rate not in PATCH_RATES:
            raise SpecError(f"rate must be a power of two from 1 to 65536, got {self.rate}")
        if not 0 <= self.field_at < 64:
            raise SpecError(
                f"field_at must be an offset in a 64-byte line (0..63), got {self.field_at}"
            )
        if self.xmc != "none" and self.patch_kind != "cross":
            raise SpecError(
                "xmc (the cross-modifying-code protocol) only applies to patch_kind 'cross'"
            )
        if self.patch_kind == "int3" and self.patch_into == "cell":
            raise SpecError(
                "a breakpoint is written into the code: patch_into 'cell' does not apply to int3"
            )
        if self.patch_kind == "cross" and self.patch_into == "code" and self.splits_field():
            raise SpecError(
                f"a 4-byte patch at line offset {self.field_at} crosses an 8-byte boundary, so"
                " the executing thread could fetch a torn instruction: use field_at % 8 <= 4"
            )

    def _validate_relocate(self) -> None:
        check_choice("scheme", self.scheme, SCHEMES)
        if not 1 <= self.lead < RING_SLOTS:
            raise SpecError(f"lead must be between 1 and {RING_SLOTS - 1} blocks, got {self.lead}")
        if self.scheme != "ring" and not self._default("lead"):
            raise SpecError("lead (the write-ahead distance) only applies to scheme 'ring'")

    def iterations_per_patch(self) -> int | None:
        """How many iterations one patch is spread over (the patch workload), else None."""
        return self.rate if self.workload == "patch" else None

    def _validate_emit(self) -> None:
        check_choice("strategy", self.strategy, EMIT_STRATEGIES)
        for name in ("mix", "emit_store", "region_layout"):
            check_choice(
                name.replace("_", "-"), getattr(self, name), _FIELDS[name].metadata["choices"]
            )
        if not 64 <= self.block <= MAX_EMIT_BLOCK or self.block % 64:
            raise SpecError(
                f"a jit-emit block must be a multiple of 64 between 64 and"
                f" {format_size(MAX_EMIT_BLOCK)}, got {self.block}"
            )
        s = EMIT_STRATEGIES[self.strategy]
        if self.region_layout != "contiguous" and s.regions == 1:
            raise SpecError(
                f"region layout '{self.region_layout}' needs a strategy with several regions"
                f" (rotate-N), not '{self.strategy}'"
            )

    def _default(self, name: str) -> bool:
        return bool(getattr(self, name) == _FIELDS[name].default)

    def _needs(self) -> list[tuple[str, tuple[str, ...]]]:
        """(knob value, the CPU flags it needs) for this experiment."""
        if self.workload == "jit-block":
            return [(self.strategy, STRATEGIES[self.strategy].features)]
        if self.workload == "patch":
            return [(self.xmc, vocab.BARRIERS[self.xmc].flags)]
        if self.workload == "relocate":
            return []
        if self.workload == "jit-emit":
            return [(self.strategy, EMIT_STRATEGIES[self.strategy].features)]
        records: list[vocab.Term] = [
            vocab.BARRIERS[self.barrier],
            vocab.COPIES[self.copy],
            vocab.PREFETCHES[self.prefetch],
            vocab.EVICTS[self.evict],
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
        if self.workload == "patch":
            return self._patch_label()
        if self.workload == "relocate":
            return f"relocate {self.scheme}" + (
                f" lead={self.lead}" if self.scheme == "ring" else ""
            )
        if self.workload == "jit-emit":
            parts = ["emit", self.strategy, format_size(self.block)]
            for name in ("mix", "emit_store", "region_layout"):
                if not self._default(name):
                    parts.append(f"{name.replace('_', '-')}={getattr(self, name)}")
            return " ".join(parts)
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
            "chain",
            "cross_period",
            "evict",
        ):
            value = getattr(self, name)
            if value != defaults[name].default:
                parts.append(f"{name}={value}")
        if self.barrier != "none":
            parts.append(f"{self.barrier}@{self.placement}")
        return " ".join(parts)

    def _patch_label(self) -> str:
        parts = [f"patch {self.patch_kind}", f"every {self.rate}"]
        if self.patch_into != "code":
            parts.append(f"into={self.patch_into}")
        if self.xmc != "none":
            parts.append(f"xmc={self.xmc}")
        if not self._default("field_at"):
            parts.append(f"field@{self.field_at}")
        if self.splits_field() and self.patch_into == "code":
            parts.append("(split field)")
        return " ".join(parts)


_FIELDS = {f.name: f for f in dataclasses.fields(Experiment)}
#: knobs (not measurement settings), in declaration order
KNOBS = tuple(n for n, f in _FIELDS.items() if not f.metadata.get("measure"))
#: workload -> the Experiment method that validates its knobs
_VALIDATORS = {
    "seed": "_validate_seed",
    "jit-block": "_validate_jit",
    "patch": "_validate_patch",
    "relocate": "_validate_relocate",
    "jit-emit": "_validate_emit",
}


def applies(name: str, workload: str) -> bool:
    """Whether knob ``name`` means something to ``workload`` (a knob's ``applies`` metadata
    lists its workloads; without it, a knob applies to all)."""
    owners = _FIELDS[name].metadata.get("applies")
    return owners is None or workload in owners


SEED_ONLY = tuple(n for n in KNOBS if _FIELDS[n].metadata.get("applies") == SEED)


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
            if not str(text).isascii():  # int() and float() take any script's digits
                raise ValueError(text)
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise SpecError(f"{name} must be a number, got '{text}'") from None
    if kind == "events":
        return tuple(e.strip() for e in str(text).split(",") if e.strip())
    return str(text)
