"""Measuring: a run from start to end (``run``), its loop (``loop``), the workload, the checks before
it, calibration, instruments, sinks, resume and confirm; one module per strategy under ``strategies/``."""
