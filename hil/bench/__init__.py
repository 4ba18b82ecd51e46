"""Benchmark helpers (operator-side tools behind `roamline bench ...`)."""
