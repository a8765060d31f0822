"""User-written experiments: Intel-syntax assembly assembled by GNU as, checked, extracted.

An experiment file has named sections (see ``examples/`` and the README)::

    .section payload    # written to the destination and called: must return (ret)
    .section write      # inlined in the loop before the call, every iteration: no ret
    .section init       # optional, inlined before the first rdtsc of every timed run: no ret

Register contract (write and init run inline in smclab's loop; the payload is called):

* write: ``rdi`` = the destination in the executable buffer (or the far buffer with
  ``store far``), ``rsi`` = the source payload, ``rdx`` = the iteration number (0, 1, ...);
* init: ``rdi`` = the executable buffer's start, ``rsi`` = the source payload, ``rdx`` = the
  buffer size in bytes;
* every section may clobber rax rcx rdx rsi rdi r8-r11, the flags and the vector registers, and
  must not write rbx rbp rsp r12-r15 at all (not even to restore them: the check is static),
  except for balanced push/pop, which move rsp implicitly.

``{step}``, ``{buffer}`` and ``{payload_len}`` are replaced by the experiment's knobs before
assembling, so a sweep can vary them. smclab places the bytes itself: only position-independent
code works, so any relocation (an absolute address, a reference to another section, an
undefined symbol) is refused, as is a ``ret`` where there must be none, a payload without one, a
branch leaving its section, or a write to a preserved register. Refusals and assembly errors
are :class:`~smclab.model.knobs.SpecError` with the file name and line.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from iced_x86 import (
    Code,
    Decoder,
    FlowControl,
    Instruction,
    InstructionInfoFactory,
    Mnemonic,
    OpAccess,
    OpKind,
    RegisterExt,
)
from iced_x86 import Register as R

from smclab.errors import SpecError, read_input
from smclab.isa.asm import Register

SECTIONS = ("payload", "write", "init")
#: the knobs substituted into the text before assembling ({name} -> value)
PARAMS = ("step", "buffer", "payload_len")
#: registers a section must not write (the loop keeps its state there)
PRESERVED = (R.RBX, R.RBP, R.RSP, R.R12, R.R13, R.R14, R.R15)
AS_ARGS = ("--64", "-msyntax=intel", "-mnaked-reg")
MISSING_AS = (
    "GNU as is not installed: install the Debian package binutils (apt-get install binutils)"
)
MAX_TEXT = 1 << 20
INCLUDES = "an experiment is one file (no .include or .incbin)"
_SECTION_RE = re.compile(r"^\s*\.section\s+([A-Za-z_.][\w.]*)", re.MULTILINE)
#: a statement that makes gas read another file (refused: an experiment is its one file)
_INCLUDE_RE = re.compile(r"(?:^|;)\s*(?:[\w.$]+:\s*)*\.(include|incbin)\b", re.M | re.I)
#: empty sections gas always creates, and its own bookkeeping
_IGNORED = (".text", ".data", ".bss", ".note.GNU-stack")
_WRITES = (OpAccess.WRITE, OpAccess.READ_WRITE, OpAccess.COND_WRITE, OpAccess.READ_COND_WRITE)
_READS = (OpAccess.READ, OpAccess.COND_READ, OpAccess.READ_WRITE, OpAccess.READ_COND_WRITE)
_BRANCHES = (FlowControl.UNCONDITIONAL_BRANCH, FlowControl.CONDITIONAL_BRANCH, FlowControl.CALL)


def declared_sections(text: str) -> tuple[str, ...]:
    """The section names ``.section`` lines of ``text`` declare, in order (no assembling)."""
    return tuple(dict.fromkeys(_SECTION_RE.findall(text)))


def read_file(path: str | Path) -> tuple[str, str]:
    """(name, text) of an experiment file (at most :data:`MAX_TEXT` bytes, read no further): its
    base name labels the experiment."""
    text = read_input(path, MAX_TEXT, "assembly file")
    if not text.strip():
        raise SpecError(f"the assembly file {path} is empty (it needs a '.section payload')")
    return os.path.basename(path), text


def substitute(text: str, step: int, buffer: int, payload_len: int) -> str:
    """``text`` with ``{step}``, ``{buffer}`` and ``{payload_len}`` replaced (other braces,
    such as AVX-512 ``{k1}``, are left alone)."""
    for name, value in zip(PARAMS, (step, buffer, payload_len), strict=True):
        text = text.replace("{" + name + "}", str(value))
    return text


@dataclass(frozen=True)
class Assembled:
    """The bytes of each section (payload always; write and init empty when absent)."""

    name: str
    payload: bytes
    write: bytes = b""
    init: bytes = b""
    has_write: bool = False
    #: whether any section uses ymm/zmm registers (the function ends with vzeroupper)
    wide: bool = False
    #: whether the write section reads rdx (the loop then counts the iterations for it)
    counts: bool = False


def assemble(text: str, name: str, step: int, buffer: int, payload_len: int) -> Assembled:
    """Substitute the parameters, assemble with GNU as and check the sections (SpecError with
    ``name:line`` on any error or refusal). Cached: a worker builds the same code twice."""
    return _assemble(text, _safe_name(name), step, buffer, payload_len)


def _safe_name(name: str) -> str:
    """A file name gas can be given as is (its messages quote it)."""
    base = re.sub(r"[^\w.+-]", "_", os.path.basename(name)).lstrip("-")
    return base or "experiment.s"


@functools.lru_cache(maxsize=64)
def _assemble(text: str, name: str, step: int, buffer: int, payload_len: int) -> Assembled:
    source = substitute(text, step, buffer, payload_len)
    obj, listing = _run_as(source, name)
    sections, relocs = read_elf(obj)
    lines = listing_lines(listing)
    where = functools.partial(_where, name, lines)
    if relocs:
        sec, offsets = next(iter(relocs.items()))
        raise SpecError(
            f"{where(sec, offsets[0])}: an absolute address or a reference outside the"
            f" '{sec}' section: smclab places each section itself, so only position-independent"
            " code works (use [rip + label] within one section)"
        )
    unknown = [s for s, raw in sections.items() if s not in SECTIONS and raw and s not in _IGNORED]
    stray = [s for s in _IGNORED if sections.get(s)]
    if unknown or stray:
        what = (unknown or stray)[0]
        raise SpecError(
            f"{name}: code in section '{what}' would not run: put it under"
            f" .section payload, write or init"
        )
    if not sections.get("payload"):
        raise SpecError(f"{name}: no payload: a '.section payload' with the code to call")
    uses = {sec: _check(sec, sections[sec], where) for sec in SECTIONS if sec in sections}
    return Assembled(
        name,
        sections["payload"],
        sections.get("write", b""),
        sections.get("init", b""),
        "write" in sections,
        any(RegisterExt.is_ymm(r) or RegisterExt.is_zmm(r) for u in uses.values() for r in u),
        R.RDX in uses.get("write", set()),
    )


def _run_as(source: str, name: str) -> tuple[bytes, str]:
    """GNU as on ``source`` saved as ``name``: (object file, listing); SpecError on failure."""
    exe = shutil.which("as")
    if exe is None:
        raise SpecError(MISSING_AS)
    if m := _INCLUDE_RE.search(source):
        line = source.count("\n", 0, m.start(1)) + 1
        raise SpecError(f"{name}:{line}: .{m.group(1).lower()} refused: {INCLUDES}")
    with tempfile.TemporaryDirectory(prefix="smclab-as-") as tmp:
        src = Path(tmp, "src")  # the source alone in its folder: any name is free
        src.mkdir()
        (src / name).write_text(source if source.endswith("\n") else source + "\n")
        cmd = [exe, *AS_ARGS, "-aln=../listing", "--MD", "../deps", "-o", "../out.o", name]
        try:
            proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SpecError(f"{name}: running GNU as failed: {e}") from None
        if proc.returncode != 0:
            raise SpecError(_first_error(proc.stderr, name))
        deps = Path(tmp, "deps").read_text(errors="replace").partition(":")[2]
        if set(deps.replace("\\", " ").split()) - {name}:  # a file read via a macro
            raise SpecError(f"{name}: the assembly reads another file: {INCLUDES}")
        return Path(tmp, "out.o").read_bytes(), Path(tmp, "listing").read_text(errors="replace")


def _first_error(stderr: str, name: str) -> str:
    """gas's first error as one line (``name:line: message``), and how many more there are."""
    errors = [ln.strip() for ln in stderr.splitlines() if re.search(r":\d+: (Error|Fatal)", ln)]
    if any(not e.startswith(f"{name}:") for e in errors):  # about a file a macro included
        return f"{name}: the assembly reads another file: {INCLUDES}"
    if not errors:
        tail = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        return f"{name}: GNU as failed: {tail[-1] if tail else 'no message'}"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return errors[0].replace(": Error: ", ": ", 1) + more


# -- the object file ---------------------------------------------------------------------------

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
SHT_RELA, SHT_REL, SHT_NOBITS = 4, 9, 8
_RELA = 24


def read_elf(obj: bytes) -> tuple[dict[str, bytes], dict[str, list[int]]]:
    """The sections of a relocatable ELF64 object: ({name: bytes}, {name: [relocated
    offsets]}); NOBITS sections (.bss) read as zeros of their size."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2:
        raise SpecError("GNU as did not write an ELF64 object")
    head = _EHDR.unpack_from(obj)
    shoff, shentsize, shnum, shstrndx = head[6], head[11], head[12], head[13]
    shdrs = [_SHDR.unpack_from(obj, shoff + i * shentsize) for i in range(shnum)]
    strtab = shdrs[shstrndx]
    names = obj[strtab[4] : strtab[4] + strtab[5]]

    def name(off: int) -> str:
        return names[off : names.index(b"\0", off)].decode()

    sections: dict[str, bytes] = {}
    relocs: dict[str, list[int]] = {}
    for sh in shdrs:
        sh_name, sh_type, _flags, _addr, offset, size, _link, info, _align, entsize = sh
        if sh_type in (SHT_RELA, SHT_REL):
            step = entsize or _RELA
            target = name(shdrs[info][0])
            offsets = [struct.unpack_from("<Q", obj, offset + i)[0] for i in range(0, size, step)]
            if offsets:
                relocs.setdefault(target, []).extend(sorted(offsets))
        elif sh_type == SHT_NOBITS:
            sections[name(sh_name)] = bytes(size)
        elif sh_name and sh_type == 1:  # PROGBITS
            sections[name(sh_name)] = obj[offset : offset + size]
    return sections, relocs


# -- source lines ------------------------------------------------------------------------------

_LISTED = re.compile(r"^\s*(\d+)\s([0-9a-fA-F]{4,})\s[0-9A-Fa-f]+\s*\t?(.*)$")
_SOURCE = re.compile(r"^\s*(\d+)\s+\t(.*)$")


def listing_lines(listing: str) -> dict[str, list[tuple[int, int]]]:
    """From gas's listing (``-aln``): section -> [(offset, source line)], in order."""
    out: dict[str, list[tuple[int, int]]] = {}
    section = ".text"
    for row in listing.splitlines():
        m = _LISTED.match(row)
        src = _SOURCE.match(row)
        text = m.group(3) if m else src.group(2) if src else ""
        found = _SECTION_RE.match(text)
        if found:
            section = found.group(1)
        if m:
            out.setdefault(section, []).append((int(m.group(2), 16), int(m.group(1))))
    return out


def _where(name: str, lines: dict[str, list[tuple[int, int]]], section: str, offset: int) -> str:
    """``name:line`` of the byte at ``offset`` of ``section`` (``name`` if unknown)."""
    best = None
    for off, line in lines.get(section, []):
        if off <= offset:
            best = line
    return f"{name}:{best}" if best is not None else f"{name} ({section}+{offset:#x})"


# -- checks ------------------------------------------------------------------------------------


def _writes(ins: Instruction, info_factory: InstructionInfoFactory) -> list[Register]:
    """Preserved registers ``ins`` writes (rsp moved by push/pop is allowed)."""
    explicit = {
        RegisterExt.full_register(ins.op_register(i))
        for i in range(ins.op_count)
        if ins.op_kind(i) == OpKind.REGISTER
    }
    out: list[Register] = []
    for use in info_factory.info(ins).used_registers():
        full = RegisterExt.full_register(use.register)
        if full in PRESERVED and use.access in _WRITES:
            implicit_stack = full == R.RSP and full not in explicit and ins.stack_pointer_increment
            if not implicit_stack:
                out.append(full)
    return out


_REG_NAMES = {
    R.RBX: "rbx",
    R.RBP: "rbp",
    R.RSP: "rsp",
    R.R12: "r12",
    R.R13: "r13",
    R.R14: "r14",
    R.R15: "r15",
}


def _check(section: str, raw: bytes, where: functools.partial[str]) -> set[Register]:
    """Refuse what cannot run where smclab puts ``section``; the registers it uses (rdx when
    it reads rdx or its parts)."""
    factory = InstructionInfoFactory()
    has_ret, used = False, set[Register]()
    for ins in Decoder(64, raw, ip=0):
        at = where(section, ins.ip)
        if ins.code == Code.INVALID:
            raise SpecError(f"{at}: bytes in the '{section}' section that decode to no instruction")
        if ins.mnemonic == Mnemonic.RET:
            has_ret = True
            if section != "payload":
                raise SpecError(
                    f"{at}: ret in the '{section}' section: it runs inline in smclab's loop"
                    " and must fall through its end (only the payload returns)"
                )
        for reg in _writes(ins, factory):
            raise SpecError(
                f"{at}: '{section}' writes {_REG_NAMES[reg]}, which smclab's loop keeps: use"
                " rax rcx rdx rsi rdi r8-r11 (rbx rbp rsp r12-r15 must stay untouched)"
            )
        if ins.flow_control in _BRANCHES and ins.op0_kind in (
            OpKind.NEAR_BRANCH16,
            OpKind.NEAR_BRANCH32,
            OpKind.NEAR_BRANCH64,
        ):
            target = ins.near_branch_target
            if not 0 <= target <= len(raw):
                raise SpecError(f"{at}: a branch leaves the '{section}' section")
        for use in factory.info(ins).used_registers():
            if RegisterExt.full_register(use.register) != R.RDX:
                used.add(use.register)
            elif use.access in _READS:
                used.add(R.RDX)
    if section == "payload" and not has_ret:
        raise SpecError(f"{where.args[0]}: the payload has no ret: it is called and must return")
    return used
