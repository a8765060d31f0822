"""The relocate workload."""
