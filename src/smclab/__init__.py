"""smclab: a laboratory for self-modifying and JIT-written machine code on x86-64."""

__version__ = "0.1.0"
