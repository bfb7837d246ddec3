"""Comparing two verdict sets over the same posts: :mod:`.load` (files and topics),
:mod:`.diff` (agreement, flips, score differences), :mod:`.report` (tables) and
:mod:`.plot` (a PNG)."""
