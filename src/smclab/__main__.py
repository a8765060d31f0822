"""``python -m smclab`` and the ``smclab`` command: a Ctrl-C while the command line's modules
load, or one that escapes it, ends in one line too (exit 130), as it does once they run.

What runs before this (the interpreter's start-up, pip's wrapper or runpy, smclab/__init__.py)
is kept to what cannot be avoided: the package imports nothing but its version at start-up."""

import sys


def main() -> None:
    try:
        from smclab.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("smclab: interrupted\n")
        sys.exit(130)
    finally:
        # CPython (3.11, 3.12) remembers a KeyboardInterrupt that ended a string exec or eval
        # (the code a namedtuple or a dataclass generates while a module loads), even one
        # caught since, and under `python -m` then ends by killing itself with SIGINT instead
        # of exiting with the status asked for. Running an empty string forgets it.
        exec("")


if __name__ == "__main__":
    main()
