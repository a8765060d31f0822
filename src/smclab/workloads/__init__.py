"""Workloads: one package per workload."""
