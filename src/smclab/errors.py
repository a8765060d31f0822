"""The input-error type every layer raises for bad input (the CLI: one line, exit 2), and how
a user's input file is read (bounded, before anything else looks at it)."""

from __future__ import annotations

import os


class SpecError(ValueError):
    """Bad input (an invalid experiment, file, option or store); the message is one sentence
    meant for the user."""


def read_input(path: str | os.PathLike[str], limit: int, what: str) -> str:
    """The text of the user's ``what`` file ``path`` (UTF-8, a byte-order mark dropped). At most
    ``limit`` + 1 bytes are read: a larger file, or an endless one such as ``/dev/zero``, is
    refused without being read whole. Raises SpecError."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise SpecError(f"cannot read the {what} {path}: {e.strerror or e}") from None
    if len(data) > limit:
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
        raise SpecError(f"the {what} {path} is larger than {size}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"the {what} {path} is not UTF-8 text") from None
