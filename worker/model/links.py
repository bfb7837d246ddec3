"""Links in post texts, and what the text encoder is shown of them.

Tweets end in shortened links (``https://t.co/2IyM7GkxCs``): random letters to
a sentence encoder, which the WordPiece tokenizer cuts into a dozen meaningless
pieces that dilute a mean-pooled embedding. With ``text_links="strip"`` (a
property of the heads checkpoint, recorded in ``heads.json``) the text encoder
sees each post without them; ``train`` asks for it (docs/training.md
says what it changed). A text that is nothing but links is shown as it
is, so that it still has a token count and an embedding of its own.

Example::

    encoder_text("Polls close at 8 https://t.co/AbC123", "strip")   # "Polls close at 8"
"""

from __future__ import annotations

import re
from typing import Final, Literal

__all__ = ["LINK", "TextLinks", "encoder_text"]

#: A link as written in a post: scheme, then everything up to the next space.
LINK: Final = re.compile(r"https?://\S+")

TextLinks = Literal["keep", "strip"]

_SPACE = re.compile(r"\s+")


def encoder_text(text: str, links: TextLinks) -> str:
    """``text`` as the text encoder is shown it: as written ("keep"), or without its
    links and with the spaces they leave collapsed ("strip"; unchanged when nothing
    but links and spaces would remain)."""
    if links == "keep" or "://" not in text:
        return text
    plain = _SPACE.sub(" ", LINK.sub(" ", text)).strip()
    return plain or text
