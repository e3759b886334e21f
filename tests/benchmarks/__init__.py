"""Benchmarks: what the bridge costs a user, measured side by side against a floor.

Run all six (a few minutes) and print the table that ``docs/performance.md`` quotes::

    python -m tests.benchmarks            # full size
    python -m tests.benchmarks --smoke    # tiny sizes, seconds: checks the runner works
    python -m tests.benchmarks --only 3,6 # some of them

Every figure is compared with a baseline measured in the same run, interleaved with it where
possible, because these machines are shared and noisy: read medians and ratios, not lone times.
pytest does not collect this folder (``norecursedirs``); ``tests/unit/test_benchmarks_smoke.py``
runs the smoke size and checks only that the table is complete.
"""
