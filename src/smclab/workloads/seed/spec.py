"""The seed workload's knobs, validation, CPU needs and label.

The loop copies ``payload`` bytes (``ret`` padded with ``pad``) with ``copy`` to the executable
buffer ``ahead`` bytes past the current position (``store='exec'``), to a data buffer far from
any code (``'far'``) or nowhere (``'none'``), then calls the code at the current position with
``call`` and advances it by ``step`` bytes, wrapping at ``buffer``.

An assembly experiment (``asm``: the text of a user's file, ``asm_name``: its name) is the seed
workload with the payload, and optionally the writer, taken from the file (see
:mod:`smclab.isa.gas`); every other seed knob applies around it.
"""

from __future__ import annotations

from smclab.errors import SpecError
from smclab.isa import gas
from smclab.isa import vocabulary as vocab
from smclab.model.experiment import Experiment
from smclab.model.knobs import Knob, check_choice, format_size

PAGE = 4096
PLACEMENTS = ("after-store", "before-store", "both")
STORE_TARGETS = ("exec", "far", "none")
LAYOUTS = ("far", "near")
CROSS = ("none", "line", "near")
#: where the cross-modifying writer stores, from the executed slot: inside its 64-byte line
#: (a nop byte of a 64-byte payload, never the ret) or two lines further (same page)
CROSS_OFFSET = {"line": 32, "near": 160}
PAYLOAD_OPS = ("ret", "ud2")
#: most dependent imuls of the chain knob
MAX_CHAIN = 4096


def _barrier_label(exp: Experiment) -> str:
    return f"{exp.barrier}@{exp.placement}"


def _placement_label(exp: Experiment) -> str:
    """A placement shows with its barrier (``mfence@both``); alone it changes nothing the
    code does, but it is a different experiment, so it says so."""
    return "" if exp.barrier != "none" else f"placement={exp.placement}"


#: in label order: the label lists the knobs that differ from their defaults in this order
KNOBS = (
    Knob("buffer", PAGE, "size", "Executable buffer size (page multiple: 4K, 1M, ...)."),
    Knob("step", 0, "size", "Bytes the call target moves each iteration."),
    Knob("payload", 64, "size", "Payload bytes copied each iteration (ret + padding)."),
    Knob("ahead", 0, "size", "Write-ahead distance: store to exec+A (mod buffer)."),
    Knob("origin", 0, "size", "Offset of the executed slot when step is 0."),
    Knob(
        "batch",
        1,
        "int",
        "Write this many consecutive payloads at once, every that many"
        " iterations (needs step = payload).",
    ),
    Knob("copy", "rep-movsb", "choice", "Copy method.", vocab.COPIES),
    Knob("store", "exec", "choice", "Where the copy goes.", STORE_TARGETS),
    Knob("call", "indirect", "choice", "Call kind.", vocab.CALLS),
    Knob("pad", "nop", "choice", "What pads the payload after its ret.", vocab.PADS),
    Knob(
        "cross",
        "none",
        "choice",
        "Cross-modifying writer thread on another CPU: stores"
        " into the executed line, or two lines away (near).",
        CROSS,
    ),
    Knob(
        "prefetch",
        "none",
        "choice",
        "Prefetch the next write destination before each write.",
        vocab.PREFETCHES,
    ),
    Knob(
        "layout",
        "far",
        "choice",
        "Code-to-buffer distance: far (4 TiB, as a C program's"
        " .text and its mmap) or near (1 MiB; direct calls need it).",
        LAYOUTS,
    ),
    Knob(
        "op", "ret", "choice", "The payload's instruction (ud2 faults).", PAYLOAD_OPS, hidden=True
    ),
    Knob(
        "chain",
        0,
        "int",
        "Dependent imuls between the store (and its barrier) and the call; their result"
        " (zero) is added to the call's target register, so the call waits for them.",
    ),
    Knob(
        "cross_period",
        0,
        "int",
        "TSC ticks between two stores of the cross-modifying writer (0: as fast as it can).",
    ),
    Knob(
        "evict",
        "none",
        "choice",
        "After each copy, write back or demote the written line(s).",
        vocab.EVICTS,
    ),
    Knob("barrier", "none", "choice", "Barrier.", vocab.BARRIERS, label=_barrier_label),
    Knob(
        "placement",
        "after-store",
        "choice",
        "Barrier placement.",
        PLACEMENTS,
        label=_placement_label,
    ),
    Knob(
        "asm",
        "",
        "asm",
        "Assembly experiment FILE: its payload (and write, init) sections replace the"
        " seed's payload (and copy); register contract in README.md, examples in examples/.",
        column=False,
    ),
    Knob("asm_name", "", "text", "The assembly file's name (labels it).", hidden=True),
)
_CHOICES = {k.name: k.choices for k in KNOBS if k.kind == "choice"}


def head(exp: Experiment) -> str:
    """The label's start: the assembly file (if any), buffer/step."""
    ring = f"{format_size(exp.buffer)}/{exp.step}"
    return f"{exp.asm_name or 'asm'} {ring}" if exp.asm else ring


def cpus(exp: Experiment) -> int:
    """Two CPUs with a cross-modifying writer thread, else one."""
    return 2 if exp.cross != "none" else 1


def needs(exp: Experiment) -> list[tuple[str, tuple[str, ...]]]:
    records: list[vocab.Term] = [
        vocab.BARRIERS[exp.barrier],
        vocab.COPIES[exp.copy],
        vocab.PREFETCHES[exp.prefetch],
        vocab.EVICTS[exp.evict],
    ]
    return [(r.name, r.flags) for r in records]


def _default(exp: Experiment, name: str) -> bool:
    return bool(getattr(exp, name) == next(k.default for k in KNOBS if k.name == name))


def validate(exp: Experiment) -> None:
    b, s, a, p = exp.buffer, exp.step, exp.ahead, exp.payload
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
    for name, choices in _CHOICES.items():
        check_choice(name, getattr(exp, name), choices)
    width = vocab.COPIES[exp.copy].width
    if p % width:
        raise SpecError(
            f"copy '{exp.copy}' moves {width}-byte units: payload {p} is not a multiple of {width}"
        )
    last = (b - 1) // s * s if s else exp.origin
    if s and exp.origin:
        raise SpecError("origin only applies with step 0")
    if not 0 <= exp.origin <= b - p:
        raise SpecError(
            f"origin must be between 0 and buffer - payload ({b - p}), got {exp.origin}"
        )
    if last + p > b:
        raise SpecError(
            f"a {p}-byte payload at the last step position ({last}) overruns the {b}-byte buffer"
        )
    if a and exp.store != "exec":
        raise SpecError("a write-ahead distance needs store 'exec'")
    if s == 0:
        if not 0 <= exp.origin + a <= b - p:
            raise SpecError(
                f"with step 0 the store at origin+ahead ({exp.origin + a}) must"
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
    if vocab.COPIES[exp.copy].aligned:
        for what, v in (("step", s), ("origin", exp.origin), ("ahead", a)):
            if v % width:
                raise SpecError(
                    f"'{exp.copy}' stores need {width}-byte aligned destinations:"
                    f" {what} {v} is not a multiple of {width}"
                )
    if exp.batch != 1:
        k = exp.batch
        if not 1 <= k <= 64:
            raise SpecError(f"batch must be between 1 and 64, got {k}")
        if exp.store == "none" or s != p or b % (k * s) or a % (k * s):
            raise SpecError(
                f"batch {k} writes {k} consecutive slots: it needs a store ('exec', or"
                " 'far' for its data control),"
                f" step = payload, and the buffer and ahead multiples of {k * s}"
            )
    if exp.prefetch != "none" and (exp.store == "none" or not s):
        raise SpecError("prefetch needs a store ('exec', or 'far' for its data control) and a step")
    if exp.cross != "none" and s:
        raise SpecError("a cross-modifying writer needs a fixed executed slot (step 0)")
    if exp.cross != "none" and exp.origin + CROSS_OFFSET[exp.cross] >= b:
        raise SpecError(
            f"the '{exp.cross}' writer stores {CROSS_OFFSET[exp.cross]} bytes"
            f" past the origin ({exp.origin}): outside the {b}-byte buffer"
        )
    _validate_issue10(exp)
    call = vocab.CALLS[exp.call]
    if call.near and exp.layout != "near":
        raise SpecError(f"call kind '{call.name}' needs layout 'near' (a call rel32 reaches 2 GiB)")
    if call.unrolled and s and b % s:
        raise SpecError(
            f"call kind '{call.name}' with a step unrolls the loop over the ring: the"
            " step must divide the buffer"
        )
    if call.source and exp.store == "none":
        raise SpecError(f"call kind '{call.name}' with store 'none' runs no copy at all")
    _validate_asm(exp)


def _validate_asm(exp: Experiment) -> None:
    """What can be said of an assembly experiment without assembling it (smclab.isa.gas
    assembles and checks the code before it runs)."""
    if not exp.asm:
        if exp.asm_name:
            raise SpecError("asm-name names an assembly file: give --asm FILE")
        return
    sections = gas.declared_sections(exp.asm)
    if "payload" not in sections:
        raise SpecError(f"{exp.asm_name or 'the assembly'} has no '.section payload'")
    mine = [("op", "the payload's instruction"), ("cross", "a writer into the seed's payload")]
    if "write" in sections:  # the seed's writer's own knobs
        mine += [("copy", "the seed's copy"), ("batch", "the seed's batched copy")]
    for name, what in mine:
        if not _default(exp, name):
            raise SpecError(
                f"{name} sets {what}: it does not apply to an assembly experiment"
                + (" with a write section" if name in ("copy", "batch") else "")
            )


def _validate_issue10(exp: Experiment) -> None:
    if not 0 <= exp.chain <= MAX_CHAIN:
        raise SpecError(f"chain must be between 0 and {MAX_CHAIN}, got {exp.chain}")
    if not 0 <= exp.cross_period <= 10**9:
        raise SpecError(f"cross-period must be between 0 and 1e9 ticks, got {exp.cross_period}")
    if exp.cross_period and exp.cross == "none":
        raise SpecError("cross-period needs a cross-modifying writer (cross 'line' or 'near')")
    if exp.evict != "none" and exp.store == "none":
        raise SpecError("evict needs a store ('exec', or 'far' for its data control)")
