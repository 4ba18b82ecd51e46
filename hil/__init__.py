"""Rigs, simulated peripherals (protocol peers, not mocks), the scenario runner, demo and benchmarks."""
