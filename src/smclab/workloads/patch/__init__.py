"""The patch workload."""
