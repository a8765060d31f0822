"""``python -m smclab`` and the ``smclab`` command: a Ctrl-C while the command line's modules
load ends in one line too (exit 130), as it does once they run."""

import sys


def main() -> None:
    try:
        from smclab.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("smclab: interrupted\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
