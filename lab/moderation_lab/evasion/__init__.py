"""The evasion benchmark: category heads scored on held-out posts rewritten the ways evaders write."""
