"""The gate: a 20-minute check of a change to training (``python -m benchmarks.gate``, docs/accuracy.md)."""
