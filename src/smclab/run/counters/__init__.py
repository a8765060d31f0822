"""Hardware and software event counters through perf_event_open (ctypes, no bindings).

``resolve()`` turns a perf-style name into an EventSpec for a given CPU (table in events.toml);
``CounterGroup`` counts a set of them around a block of code in the calling thread; events that
cannot be counted here are reported unavailable with a reason, never given a made-up value.
"""

from smclab.run.counters.events import EventSpec, UnknownEvent, encode_raw, event_names, resolve
from smclab.run.counters.perf import CounterGroup, probe

__all__ = [
    "CounterGroup",
    "EventSpec",
    "UnknownEvent",
    "encode_raw",
    "event_names",
    "probe",
    "resolve",
]
