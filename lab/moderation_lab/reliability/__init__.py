"""Reliability and security scenarios run against the real broker, Redis and workers.

``python -m moderation_lab.reliability`` (``make reliability``) runs them all and writes
``reliability-results.json``; the hostile corpus also runs in ``make test``
(``tests/integration/test_hostile_input.py``). Nothing here is used by the worker in
production: these are the tests' tools (a misbehaving image host, a canary that
counts connections, the corpus, fault injection).
"""
