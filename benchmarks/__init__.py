"""Performance at clinic-chain scale: `.venv/bin/python -m benchmarks.run` (see benchmarks/README.md)."""
