"""The input-error type every layer raises for bad input (the CLI: one line, exit 2)."""


class SpecError(ValueError):
    """Bad input (an invalid experiment, file, option or store); the message is one sentence
    meant for the user."""
