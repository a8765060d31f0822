"""Stored results as flat rows (knobs, statistics and counters as columns) for JSON and CSV:
the one place the exported form of a :class:`StoredResult` is made."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from smclab.errors import SpecError
from smclab.model.experiment import KNOBS
from smclab.model.result import StoredResult, versioned
from smclab.store.base import StoredSweep

Format = Literal["json", "csv"]

HEAD_COLUMNS = ("id", "sweep_id", "suite", "name", "label", "exp_key")
STAT_COLUMNS = (
    "repeats",
    "iterations",
    "ticks_median",
    "ticks_min",
    "ticks_spread",
    "ns_median",
    "ns_min",
    "ns_spread",
)
#: every repeat's ticks per iteration, grouped by round, their modes, and the noise measured
#: during the run (CSV: JSON text)
RAW_COLUMNS = ("raw_ticks", "rounds", "modes", "noise")
#: per counter: its value, why it has none, its multiplexing scale
COUNTER_PARTS = ("per_iter", "reason", "scale")
HOST_COLUMNS = ("host_model_name", "host_family", "host_model")
TAIL_COLUMNS = ("error", *HOST_COLUMNS, "created", "version")


def export_row(r: StoredResult) -> dict[str, Any]:
    """One stored result as a flat dict, knobs as columns."""
    out: dict[str, Any] = {
        "id": r.id,
        "sweep_id": r.sweep_id,
        "suite": r.suite,
        "name": r.name,
        "label": r.label,
        "exp_key": r.exp_key,
    }
    out.update({k: r.knob(k) for k in KNOBS})
    out["repeats"] = r.knob("repeats")
    out["iterations"] = r.iterations
    for prefix, s in (("ticks", r.ticks), ("ns", r.ns)):
        out[f"{prefix}_median"] = s.median if s else None
        out[f"{prefix}_min"] = s.min if s else None
        out[f"{prefix}_spread"] = s.spread if s else None
    out["raw_ticks"] = list(r.raw_ticks)
    out["rounds"] = [list(values) for values in r.rounds]
    out["modes"] = [m.to_dict() for m in r.modes]
    out["noise"] = r.noise.to_dict() if r.noise else None
    for name, c in r.counters.items():
        out[f"{name}.per_iter"] = c.per_iter
        out[f"{name}.reason"] = c.reason
        out[f"{name}.scale"] = c.scale
    out["error"] = r.error
    for k in HOST_COLUMNS:
        out[k] = r.host.get(k.removeprefix("host_"))
    out["created"] = r.created
    out["version"] = r.version
    return out


def counter_names(results: Iterable[StoredResult]) -> list[str]:
    """Every counter stored with any of ``results``, sorted."""
    return sorted({name for r in results for name in r.counters})


def export_columns(counters: Iterable[str] = ()) -> list[str]:
    """Every column, in a stable order: head, knobs, statistics, counters, error and host."""
    return [
        *HEAD_COLUMNS,
        *KNOBS,
        *STAT_COLUMNS,
        *RAW_COLUMNS,
        *(f"{c}.{part}" for c in counters for part in COUNTER_PARTS),
        *TAIL_COLUMNS,
    ]


def export_rows(stored: Iterable[StoredResult]) -> list[dict[str, Any]]:
    """Stored results as flat rows that all have the same columns (absent: None)."""
    results = list(stored)
    cols = export_columns(counter_names(results))
    rows = [export_row(r) for r in results]
    return [{c: r.get(c) for c in cols} for r in rows]


def write_csv(rows: list[dict[str, Any]], out: IO[str]) -> None:
    """Rows of :func:`export_rows` as CSV (None: an empty cell)."""
    cols = list(rows[0]) if rows else export_columns()
    w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})


def _cell(value: Any) -> Any:
    """A CSV cell: None is empty, a list or dict (raw ticks, rounds, modes, noise) is JSON
    text."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, list | dict) else value


def export_format(as_json: bool, as_csv: bool, out: str | None, sweeps: bool) -> Format | None:
    """The export format ``smclab results`` options ask for (None: a table): ``--json``,
    ``--csv``, or the suffix of ``--out``; ``sweeps``: the sweeps are listed. Raises
    SpecError."""
    if as_json and as_csv:
        raise SpecError("give --json or --csv, not both")
    if out and not (as_json or as_csv):
        suffix = Path(out).suffix.lower()
        if suffix not in (".json", ".csv"):
            raise SpecError("--out needs --json or --csv (or a .json or .csv file name)")
        as_json, as_csv = suffix == ".json", suffix == ".csv"
    if sweeps and as_csv:
        raise SpecError("--sweeps lists as a table or --json")
    return "json" if as_json else "csv" if as_csv else None


def export_text(
    fmt: Format, stored: Iterable[StoredResult] = (), sweeps: Sequence[StoredSweep] | None = None
) -> str:
    """Stored results (as :func:`export_rows`) as JSON (``{"format", "results": [rows]}``) or
    CSV text, or the ``sweeps`` as JSON (``{"format", "sweeps": [...]}``)."""
    if sweeps is not None:
        return json.dumps(versioned({"sweeps": [s.to_dict() for s in sweeps]}), indent=2) + "\n"
    rows = export_rows(stored)
    if fmt == "json":
        return json.dumps(versioned({"results": rows}), indent=2) + "\n"
    buf = io.StringIO()
    write_csv(rows, buf)
    return buf.getvalue()


def write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise SpecError(f"cannot write {path}: {e.strerror}") from None
