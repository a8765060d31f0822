"""The variant catalog: every named way to write code and run it, across the workloads.

A :class:`~smclab.workloads.advice.Variant` is an id, a one-line summary, the knobs of its
:class:`Experiment`, and the instructions its generated code must contain (checked by the tests
against the listing). Each workload gives its own (``variants`` of its registry entry, see
:mod:`smclab.workloads`): seed variants change one knob of the seed's loop to each record of
that knob's registry in :mod:`smclab.isa.vocabulary`; jit-block variants are the write
strategies of :mod:`smclab.isa.strategies`; patch variants (``patch-``) are each patch kind,
its controls and rates; relocate variants (``reloc-``) the schemes; jit-emit variants are
``emit-<strategy>`` (and ``emit-rotate-N-paged``).
"""

from __future__ import annotations

import difflib
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment, workloads
from smclab.workloads.advice import Variant, missing_reason

__all__ = ["VARIANTS", "Variant", "listed", "missing_reason", "variant", "variant_experiment"]


def variants() -> dict[str, Variant]:
    """Every variant of every workload, built now (from the vocabulary registries and the
    strategies)."""
    return {v.id: v for w in workloads().values() for v in w.variants()}


class _Catalog(Mapping[str, Variant]):
    """The catalog as a read-only mapping built when read, never a copy taken at import: a
    record added to a vocabulary registry is in it (with its listing checks)."""

    def __getitem__(self, key: str) -> Variant:
        return variants()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(variants())

    def __len__(self) -> int:
        return len(variants())

    def keys(self) -> KeysView[str]:
        return variants().keys()

    def values(self) -> ValuesView[Variant]:
        return variants().values()

    def items(self) -> ItemsView[str, Variant]:
        return variants().items()


VARIANTS: Mapping[str, Variant] = _Catalog()


def listed(workload: str | None = None) -> list[Variant]:
    """The variants of ``workload`` (None: all), in catalog order."""
    return [v for v in VARIANTS.values() if workload in (None, v.workload)]


def variant(variant_id: str) -> Variant:
    """The variant ``variant_id``; SpecError (with the closest ids) if there is none."""
    found = variants()
    if variant_id in found:
        return found[variant_id]
    close = difflib.get_close_matches(variant_id, list(found), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "see `smclab catalog`"
    raise SpecError(f"unknown variant '{variant_id}' ({hint})")


def variant_experiment(variant_id: str, **knobs: Any) -> Experiment:
    """The experiment of variant ``variant_id``, with ``knobs`` changing it."""
    v = variant(variant_id)
    return Experiment(**{"workload": v.workload, **v.knobs, **knobs})
