"""Running generated code: host facts, native memory, the worker, counters, the protocol."""
