#: the one place of smclab's version (pyproject.toml reads it); every stored row records it.
#: 0.2.0: workload packages, the versioned JSON format (see CHANGELOG.md)
__version__ = "0.2.0"
