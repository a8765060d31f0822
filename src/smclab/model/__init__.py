"""The data model: experiments (knobs, validation, keys) and results (statistics)."""
