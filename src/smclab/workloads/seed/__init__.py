"""The seed workload."""
