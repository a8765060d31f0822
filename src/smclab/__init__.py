"""smclab: a laboratory for self-modifying and JIT-written machine code on x86-64."""

from smclab._version import __version__

__all__ = ["__version__"]
