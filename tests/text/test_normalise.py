"""The normaliser: what it folds, what it leaves as written, and its offset map."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from worker.text.normalise import NORMALISER_ID, Normalised, normalise


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("ｈａｔｅ", "hate"),  # full-width
        ("𝐡𝐚𝐭𝐞 𝓱𝓪𝓽𝓮", "hate hate"),  # mathematical bold and script
        ("h\u200bat\u200de", "hate"),  # zero-width space and joiner
        ("h\u00adate", "hate"),  # soft hyphen
        ("h\u202eate\u202c", "hate"),  # bidirectional controls
        ("h\ufe0fa\U000e0101te", "hate"),  # variation selectors
        ("h\u0301\u0336a\u0337t\u0489e", "hate"),  # zalgo
        ("hâté", "hate"),  # precomposed accents
        ("hаtе", "hate"),  # Cyrillic а and е among Latin letters
        ("ѕһіt", "shit"),  # wholly Cyrillic look-alikes
        ("Ѕһіt", "Shit"),  # case kept
        ("ѕτupid кill ѕτuріd", "stupid kill stupid"),  # Greek tau, Cyrillic ka: not in the table
        ("h a t e", "hate"),
        ("h.a.t.e", "hate"),
        ("h-a-t-e", "hate"),
        ("h_a_t_e", "hate"),
        ("h 4 t e", "hate"),  # spelt out with a digit
        ("h4te", "hate"),
        ("sh1t", "shit"),
        ("sh!t!!", "shit!!"),
        ("n1gg3r", "nigger"),
        ("h4t3", "hate"),
        ("1d10t", "idiot"),
        ("s+upid ki|l |d|o+ ki11 8itch", "stupid kill idiot kill bitch"),
        ("ʂhuƚ ɗumb", "shut dumb"),  # Latin letters with hooks and bars: ƚ, a barred l, read as t
        ("geƚ ƅaϲk", "get back"),  # ƅ linked to b through Cyrillic ь/Ь; ϲ (NFKC: ς) guessed
        ("kiӏӏ ӏoѕer", "kill loser"),  # the palochka is an l or an i, whichever makes a word
        ("hoєs", "hoes"),  # UKRAINIAN IE: its name spells the letter it imitates
        ("$hit", "shit"),
        ("a$$", "ass"),
        ("@ss", "ass"),
        ("shiiiiit", "shit"),
        ("a\x07b", "ab"),  # a control character
        ("youarestupid", "you are stupid"),  # words run together
        ("ShutUpYouIdiot", "Shut Up You Idiot"),
        ("s t u p i d b i t c h", "stupid bitch"),  # several words spelt out
        ("youareastupid", "you are a stupid"),  # pairs of words: not "you area stupid"
        ("make me getnaughty.", "make me get naughty."),  # a full stop may end a run
        ("bitchesgetcutoffeveryday", "bitches get cut off every day"),
        ("d o e s n't go, y o u're", "doesn't go, you're"),  # a spelt-out word's contraction
        ("I l o v e l i k e a hoe", "I love like a hoe"),  # spelt-out words side by side
        ("h.e.l.l.a", "hella"),  # one word spelt out with punctuation stays one word
    ],
)
def test_evasions_are_read_as_a_reader_reads_them(written: str, read: str) -> None:
    assert normalise(written).text == read


@pytest.mark.parametrize(
    "kept",
    [
        "2020",
        "U.S.",
        "COVID-19",
        "3.5",
        "@user1 said so",
        "RT @joe_99: hi",
        "#h4te",
        "https://ex.am.p.le/a.b.c/h4te?x=1",
        "www.h-a-t-e.com",
        "mail me: j.d.s@ex4mple.org",
        "$AAPL up 5%",
        "&#128514; &amp; lol",
        "mp3 4chan 1st 90s covid19 x86_64",
        "привет мир",  # Russian words stay Russian
        "Καλημέρα",  # Greek too
        "straße",  # and Latin letters of other languages
        "नमस्ते दुनिया",  # Devanagari vowel signs are not diacritics
        "👩\u200d💻 🏳\ufe0f\u200d🌈",  # ZWJ emoji sequences keep their joiner
        "tab\tnew\nline",
        "hahahaha motherfucker #youarestupid @youarestupid",  # a laugh, a word, tags
        "go to mysite.com or my.youarestupid.org now",  # domains are not run-together words
        "kardashian everyone lmao",  # names and words of the list stay whole
        "n n I'm ok",  # single letters glued to a contraction are slang, not spelling
        "",
    ],
)
def test_numbers_names_links_and_other_scripts_stay(kept: str) -> None:
    expected = kept.replace("\ufe0f", "")  # variation selectors go everywhere
    if kept == "Καλημέρα":
        expected = "Καλημερα"  # the accent is a diacritic
    assert normalise(kept).text == expected


def test_each_character_points_at_what_produced_it() -> None:
    text = "an 😀 e\u0301 𝐡i ｘ https://x.org/é"
    found = normalise(text)
    assert found.text == "an 😀 e hi x https://x.org/e"
    for i, ch in enumerate(found.text):
        source = text[found.source[i] : found.ends[i]]
        assert source, (i, ch)
        assert ch == " " or ch in source or ch in normalise(source).text
    emoji = found.text.index("😀")
    assert found.to_source(emoji, emoji + 1) == (3, 4)  # astral: one code point
    accented = found.text.index("e")
    assert found.to_source(accented, accented + 1) == (5, 7)  # e and its combining accent
    bold = found.text.index("h")
    assert text[slice(*found.to_source(bold, bold + 1))] == "𝐡"
    url = found.text.index("https")
    assert text[slice(*found.to_source(url, len(found.text)))] == "https://x.org/é"


def test_a_joined_word_maps_to_the_whole_spelling() -> None:
    text = "you h . a . t . e . r"
    found = normalise(text)
    assert found.text == "you hater"
    start = found.text.index("hater")
    assert text[slice(*found.to_source(start, start + 5))] == "h . a . t . e . r"
    assert text[slice(*found.to_source(start + 1, start + 2))] == "a"


def test_split_words_map_to_their_letters() -> None:
    found = normalise("oh youarestupid")
    assert found.text == "oh you are stupid"
    start = found.text.index("stupid")
    assert found.to_source(start, start + 6) == (9, 15)
    space = found.text.index(" are")
    assert found.to_source(space, space + 1) == (6, 7)  # an inserted space: the letter after it


def test_empty_spans_and_bad_spans() -> None:
    found = normalise("ab\u200b")
    assert found.to_source(0, 0) == (0, 0)
    assert found.to_source(2, 2) == (3, 3)  # the end of the text maps to the end of the original
    with pytest.raises(ValueError, match="outside"):
        found.to_source(1, 5)


def test_identity_names_version_and_table() -> None:
    assert NORMALISER_ID.startswith("moderation-normalise/")
    assert "confusable-homoglyphs" in NORMALISER_ID


texts = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            [
                *"hate 4$@!.-_' \u200b\u200d\u0301\ufe0fаеоѕ😀ｈ𝐡ƚƅϲєӏß",
                "n't",
                "everyone",
                "a",
                "http://x.y/",
                "@u",
                "#t",
                "you",
                "stupid",
                "are",
            ]
        ),
    ),
    max_size=40,
).map("".join)


def _check_map(text: str, found: Normalised) -> None:
    assert len(found.source) == len(found.text) == len(found.ends)
    assert list(found.source) == sorted(found.source)  # monotone
    assert list(found.ends) == sorted(found.ends)
    for start, end in zip(found.source, found.ends, strict=True):
        assert 0 <= start < end <= len(text)
    if found.text:
        whole = found.to_source(0, len(found.text))
        assert whole == (min(found.source), max(found.ends))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_the_map_is_monotone_in_range_and_covers_the_text(text: str) -> None:
    _check_map(text, normalise(text))


@settings(max_examples=200, deadline=None)
@given(texts, st.data())
def test_any_span_maps_inside_the_whole(text: str, data: st.DataObject) -> None:
    found = normalise(text)
    start = data.draw(st.integers(0, len(found.text)))
    end = data.draw(st.integers(start, len(found.text)))
    low, high = found.to_source(start, end)
    assert 0 <= low <= high <= len(text)


@settings(max_examples=200, deadline=None)
@given(texts)
@example("F000Σ")  # a word squeezed after its look-alikes were folded reads as a word then
def test_normalising_twice_changes_nothing_more_than_once(text: str) -> None:
    once = normalise(text).text
    assert normalise(once).text == once


_WORDS = ["you", "are", "a", "stupid", "every", "one", "get", "out", "thats", "bitch", "i", "the", "lol"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8))
def test_splitting_run_together_words_only_inserts_spaces(words: list[str]) -> None:
    joined = "".join(words)
    assume(not re.search(r"(.)\1\1", joined))  # a letter thrice in a row is a stretch, squeezed
    found = normalise(joined)
    assert found.text.replace(" ", "") == joined
    for i, ch in enumerate(found.text):
        if ch != " ":
            assert joined[found.source[i]] == ch  # each letter still points at itself
    _check_map(joined, found)


_LOOKALIKES = {"a": "аɑα", "e": "еє", "i": "іɩӏ", "o": "оοσ", "t": "τƚ", "b": "Ьƅ", "c": "сϲ", "l": "ӏǀ"}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["bitch", "get", "stupid", "the", "kill", "loser", "idiot"]), st.data())
def test_look_alikes_are_read_one_for_one(word: str, data: st.DataObject) -> None:
    written = "".join(data.draw(st.sampled_from([ch, *_LOOKALIKES.get(ch, "")])) for ch in word)
    found = normalise(f"{written} now")
    read = found.text.split(" ")[0]
    assert len(read) == len(written)
    for plain, shown in zip(read, written, strict=True):
        if shown.isascii():
            assert plain == shown  # the letters as written stay
    _check_map(f"{written} now", found)
