"""Replaying a topic for audits: the live pipeline over a range of posts, into a file or an audit topic.

Modules, in the order a replay uses them: :mod:`.ranges` and :mod:`.planning` (which
offsets), :mod:`.kafka` (reading them outside any group), :mod:`.merge` (one order
over partitions), :mod:`.choice` (which model and settings), :mod:`.runner` (the live
:class:`~worker.pipeline.Pipeline`), :mod:`.sink` and :mod:`.outputs` (writing in
order), :mod:`.summary` and :mod:`.progress` (what the user sees), :mod:`.canonical`
(comparing two runs), :mod:`.cli` (the commands). Nothing is imported here, so the
main CLI stays quick to start.
"""
