"""The jit_emit workload."""
