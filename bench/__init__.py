"""`make bench`: how fast the sign-in service starts and answers, what it costs in AWS calls, how big it ships.

`python -m bench.run` measures and writes docs/benchmarks.md (the table) and docs/benchmarks.json (raw figures).
"""
