"""Whole sentences (descgen/sentences.py): where a text's sentences end, whether it ends whole, and a text cut back to
its last whole sentence."""

from __future__ import annotations

import json

import blingfire

from descgen import sentences
from descgen.config import REPO_ROOT


def test_a_text_ends_whole_on_a_full_stop_or_a_credit_line_and_not_mid_sentence_or_on_an_ellipsis():
    assert sentences.ends_whole("It pours well.") and sentences.ends_whole("He said “wow.”")
    assert sentences.ends_whole("A wonderful book. — The New York Times")  # an editorial review ends so
    assert sentences.ends_whole("“A delightful novel” - The Times")
    assert not sentences.ends_whole("It pours well. The handle stays cool and the")
    assert not sentences.ends_whole("It pours well. The handle…") and not sentences.ends_whole("Holds 34 oz...")
    assert not sentences.ends_whole("") and not sentences.ends_whole("   ")


def test_a_text_is_cut_back_to_its_last_whole_sentence():
    assert sentences.trim("Great tutu. The author has") == ("Great tutu.", True)
    assert sentences.trim("One. Two! Three? Four…") == ("One. Two! Three?", True)
    assert sentences.trim("Dr. Seuss wrote it. No. 5 of the series.") == ("Dr. Seuss wrote it. No. 5 of the series.", False)
    assert sentences.trim("It is sold as is") == ("", True)  # nothing whole: the caller drops or counts it


def test_sentence_spans_are_the_segmenters_own_offsets_found_faster():
    texts = ["Tab\there.  Next!", "  lead. x", "é à. Ünïcode — ok. 😀 Emoji here. Done", "“A.” —B. C"]
    for line in (REPO_ROOT / "dataset" / "sample" / "trn.json").read_bytes().splitlines()[:600]:
        try:
            texts.append(json.loads(line)["content"])
        except (ValueError, KeyError, TypeError):
            continue
    for text in texts:
        expected = [tuple(s) for s in blingfire.text_to_sentences_and_offsets(text)[1]] if text.strip() else []
        assert sentences.spans(text) == expected, text
