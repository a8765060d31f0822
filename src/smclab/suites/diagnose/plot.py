"""How the HTML report draws a probe: a declarative spec (drawn by :mod:`smclab.report.html`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bars:
    """One horizontal bar per measured point, in plan order."""

    ref: str | None = None  # label of the point drawn as a dashed reference line
    title: str | None = None  # None: the probe's title


@dataclass(frozen=True)
class Mark:
    """A vertical line at a number of the probe's findings (when a finding has it)."""

    number: str  # key in Finding.numbers
    label: str  # str.format template for the legend, given the value


@dataclass(frozen=True)
class Curve:
    """Ticks/iter against the points' x, one line per group."""

    title: str
    xlabel: str
    groups: tuple[str, ...] | None = None  # None: every group, sorted by name
    ref: str | None = None  # label of the point drawn as a dashed horizontal line
    xscale: str = "symlog"  # symlog: linear up to 64, log beyond | log: base 2 | linear
    mark: Mark | None = None


Plot = Bars | Curve
