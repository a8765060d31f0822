"""`smclab diagnose`: probes (small sweeps) and the findings the measurements support.

Each probe is a list of points (a label, an x value, a group and an Experiment). Running a probe
stores its results like any sweep (sweep id ``diagnose-<run>-<probe>``); findings are computed
from points with results, so they can be recomputed from a store or from synthetic data.
A finding is printed only when the data support it: two medians whose spreads overlap are not
called different (:mod:`smclab.model.stats`).

One module per probe: it defines ``ORDER`` (its place among the probes) and ``PROBE``, a
:class:`ProbeSpec` with its points (quick and full), its findings function and its plot
(:class:`Bars` or :class:`Curve`, drawn by :mod:`smclab.report.html`). The package finds its
probe modules itself when imported (:mod:`.registry`), so a new probe is one new file.
Shared types are in :mod:`.base`, plot kinds in :mod:`.plot`, planning and running in
:mod:`.runner`.
"""

from smclab.model.stats import confidence, differs
from smclab.suites.diagnose.base import (
    Diagnosis,
    Fact,
    Finding,
    PlanPoint,
    Point,
    Probe,
    ProbeResult,
    ProbeSpec,
)
from smclab.suites.diagnose.plot import Bars, Curve, Mark, Plot
from smclab.suites.diagnose.registry import PROBES, discover
from smclab.suites.diagnose.runner import (
    experiments_of,
    facts_of,
    find,
    probes,
    run_diagnose,
    run_probe,
    settings,
)

__all__ = [
    "PROBES",
    "Bars",
    "Curve",
    "Diagnosis",
    "Fact",
    "Finding",
    "Mark",
    "PlanPoint",
    "Plot",
    "Point",
    "Probe",
    "ProbeResult",
    "ProbeSpec",
    "confidence",
    "differs",
    "discover",
    "experiments_of",
    "facts_of",
    "find",
    "probes",
    "run_diagnose",
    "run_probe",
    "settings",
]
