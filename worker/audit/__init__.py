"""Audit tools: replaying a topic through the live pipeline (:mod:`.replay`), comparing
two verdict sets (:mod:`.compare`) and their commands (:mod:`.commands`). Not imported by
``moderation-worker run``."""
