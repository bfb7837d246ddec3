"""``make bench``: throughput and latency of the worker against the ways a user would
otherwise run the same models, and against this machine's limit.

Run with ``python -m moderation_lab.bench`` (see ``--help``); prints a table and writes
``bench-results.json``.
"""
