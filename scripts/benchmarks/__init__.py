"""`make bench` sections. Each module exposes `run(bench: Bench) -> None` and records its figures on `bench`;
scripts/bench.py runs them in order on one fresh Anvil and prints one table."""
