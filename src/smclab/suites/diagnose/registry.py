"""Finding the probes: every module of this package but the support modules is one.

A probe module defines ``ORDER`` (an int: where the probe runs and reports, smallest first;
unique) and ``PROBE`` (a :class:`~smclab.suites.diagnose.base.ProbeSpec`). :func:`discover`
imports every module of the package except the support modules below, so adding a probe is
adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from smclab.suites.diagnose.base import ProbeSpec

PACKAGE = "smclab.suites.diagnose"
#: the package's modules that are not probes
SUPPORT = frozenset({"base", "consistency", "plot", "registry", "runner", "sided"})


def discover() -> dict[str, ProbeSpec]:
    """Probe name -> spec, in ``ORDER``, from the modules on the package's ``__path__``.
    A module without ``PROBE``/``ORDER``, or a repeated order or name, raises."""
    found: list[tuple[int, str, ProbeSpec]] = []
    for info in pkgutil.iter_modules(importlib.import_module(PACKAGE).__path__):
        if info.name in SUPPORT or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        spec, order = getattr(module, "PROBE", None), getattr(module, "ORDER", None)
        if not isinstance(spec, ProbeSpec) or not isinstance(order, int):
            raise TypeError(f"{module.__name__} must define ORDER (int) and PROBE (ProbeSpec)")
        found.append((order, module.__name__, spec))
    found.sort(key=lambda t: t[0])
    for what, values in (
        ("ORDER", [str(o) for o, _, _ in found]),
        ("probe name", [s.name for _, _, s in found]),
    ):
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise ValueError(f"diagnose probes share a {what}: {', '.join(dup)}")
    return {spec.name: spec for _, _, spec in found}


#: every probe, in order (name -> spec)
PROBES: dict[str, ProbeSpec] = discover()
