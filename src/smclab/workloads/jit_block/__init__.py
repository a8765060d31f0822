"""The jit_block workload."""
