"""Tables that stay readable in a narrow terminal.

A :class:`FitTable` is laid out when it is printed, for the console's width: whole if it fits
(only its free-text columns wrap, ids and numbers never do); else without its low-value
columns (highest ``drop`` first); else vertically, one block per row: the row's id, then one
``column: value`` line per cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich import box as boxes
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.table import Table
from rich.text import Text

Cell = str | Text
#: the narrowest a free-text column gets
MIN_TEXT = 10


@dataclass(frozen=True)
class Col:
    header: str
    justify: Literal["left", "right", "center"] = "left"
    #: free text that may wrap (ids and numbers never do)
    wrap: bool = False
    #: 0: always shown; else dropped (highest first) when the table is too wide
    drop: int = 0
    style: str | None = None
    #: part of the row's heading in the vertical layout (default: the first column)
    key: bool = False


@dataclass
class FitTable:
    columns: Sequence[Col]
    rows: list[Sequence[Cell]] = field(default_factory=list)
    title: str | None = None
    box: boxes.Box | None = boxes.HEAVY_HEAD

    def add_row(self, *cells: Cell) -> None:
        self.rows.append(cells)

    def width(self, i: int) -> int:
        """The narrowest column ``i`` may be: all of its widest cell, or for free text its
        longest word (at least :data:`MIN_TEXT`)."""
        c = self.columns[i]
        texts = [c.header, *(str(row[i]) for row in self.rows)]
        if c.wrap:
            return max(MIN_TEXT, *(cell_len(w) for t in texts for w in t.split()))
        return max(cell_len(line) for t in texts for line in t.splitlines() or [""])

    def needs(self, keep: Sequence[int]) -> int:
        """The width of the table of columns ``keep`` at its narrowest."""
        n = len(keep)
        rules = n + 1 if self.box is not None else 0
        return sum(self.width(i) for i in keep) + 2 * n + rules

    def table(self, keep: Sequence[int]) -> Table:
        t = Table(title=self.title, box=self.box)
        for i in keep:
            c = self.columns[i]
            t.add_column(
                c.header,
                justify=c.justify,
                no_wrap=not c.wrap,
                overflow="fold",
                style=c.style,
                min_width=MIN_TEXT if c.wrap else self.width(i),
            )
        for row in self.rows:
            t.add_row(*(row[i] for i in keep))
        return t

    def fitting(self, width: int) -> list[int] | None:
        """The columns of the widest layout that fits ``width``, or None (vertical)."""
        keep = list(range(len(self.columns)))
        if self.needs(keep) <= width:
            return keep
        for level in sorted({c.drop for c in self.columns if c.drop}, reverse=True):
            keep = [i for i in keep if self.columns[i].drop < level]
            if self.needs(keep) <= width:
                return keep
        return None

    def vertical(self) -> list[Text]:
        keys = [i for i, c in enumerate(self.columns) if c.key] or [0]
        rest = [i for i in range(len(self.columns)) if i not in keys]
        width = max((len(self.columns[i].header) for i in rest), default=0)
        out = [Text(self.title, style="italic")] if self.title else []
        for row in self.rows:
            head = Text("  ").join(Text(str(row[i])) for i in keys)
            head.stylize("bold")
            out.append(head)
            for i in rest:
                if str(row[i]) not in ("", "-"):
                    out.append(Text.assemble(f"  {self.columns[i].header:<{width}}  ", row[i]))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        keep = self.fitting(options.max_width)
        if keep is None:
            yield from self.vertical()
        else:
            yield self.table(keep)


def markdown(columns: Sequence[Col], rows: Sequence[Sequence[Cell]]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (cells as plain text, ``|`` escaped,
    numbers right-aligned as the columns say)."""

    def cell(v: Cell) -> str:
        return " ".join(str(v).split()).replace("|", "\\|") or " "

    rule = {"left": ":--", "right": "--:", "center": ":-:"}
    lines = [
        "| " + " | ".join(cell(c.header) for c in columns) + " |",
        "|" + "|".join(rule[c.justify] for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
