"""Suites: experiments run through a Session, and what they make of the results."""
