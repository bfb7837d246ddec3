"""Score category heads on held-out rows, clean and under every perturbation family.

Example::

    results = run_suite({"normalised": head}, texts, labels, print)
    results["normalised"]["leetspeak"].macro_f1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from moderation_lab.evasion.perturb import FAMILIES, rewrite
from moderation_lab.evasion.score import Figures, score_texts
from worker.model.category_head import CategoryHead

__all__ = ["AIM", "CLEAN", "aim_met", "run_suite", "table_lines"]

CLEAN = "clean"
#: The aim under every perturbation: macro-F1 and recall within 0.02 of clean, false flags within 0.01.
AIM = {"macro_f1": 0.02, "recall": 0.02, "false_flags": 0.01}


def perturbed(texts: Sequence[str], family: str, seed: int) -> list[str]:
    """Each text rewritten by ``family``; row ``i`` uses seed ``seed + i``."""
    return [rewrite(text, family, seed + i) for i, text in enumerate(texts)]


def run_suite(
    heads: Mapping[str, CategoryHead],
    texts: Sequence[str],
    labels: Sequence[str],
    say: Callable[[str], object],
    seed: int = 0,
) -> dict[str, dict[str, Figures]]:
    """head name -> family (``clean`` first) -> figures."""
    results: dict[str, dict[str, Figures]] = {name: {} for name in heads}
    for n, family in enumerate((CLEAN, *FAMILIES), start=1):
        started = time.monotonic()
        rows = list(texts) if family == CLEAN else perturbed(texts, family, seed)
        for name, head in heads.items():
            results[name][family] = score_texts(head, rows, labels)
        shown = ", ".join(f"{name} {r[family].macro_f1:.3f}" for name, r in results.items())
        say(f"[{n}/{len(FAMILIES) + 1}] {family}: macro-F1 {shown} ({time.monotonic() - started:.1f} s)")
    return results


def aim_met(clean: Figures, figures: Figures) -> bool:
    """Whether each figure lies within the aim's distance of the clean one (to 4 decimals)."""
    return all(
        round(abs(getattr(figures, name) - getattr(clean, name)), 4) <= bound for name, bound in AIM.items()
    )


def table_lines(results: Mapping[str, Figures]) -> list[str]:
    """One head's figures as a Markdown table, each beside clean, with the aim's status."""
    clean = results[CLEAN]
    categories = list(clean.per_category)
    head = ["perturbation", "macro-F1", "flagged (positives)", "false flags", *categories, "aim"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for family, figures in results.items():
        if family == CLEAN:
            cells = [f"{figures.macro_f1:.3f}", f"{figures.recall:.3f}", f"{figures.false_flags:.3f}"]
            status = ""
        else:
            cells = [
                f"{figures.macro_f1:.3f} ({figures.macro_f1 - clean.macro_f1:+.3f})",
                f"{figures.recall:.3f} ({figures.recall - clean.recall:+.3f})",
                f"{figures.false_flags:.3f} ({figures.false_flags - clean.false_flags:+.3f})",
            ]
            status = "met" if aim_met(clean, figures) else "open"
        cells += [f"{figures.per_category.get(c, 0.0):.3f}" for c in categories]
        lines.append("| " + " | ".join([family, *cells, status]) + " |")
    return lines
