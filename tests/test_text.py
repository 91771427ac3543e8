"""Sentence spans and content terms, on real text."""

from rag.text import content_terms, names_in, sentence_spans
from tests.conftest import SEED_FILE


def test_sentence_spans_cover_the_text_and_respect_abbreviations_and_lines():
    text = SEED_FILE.read_text(encoding="utf-8")
    spans = sentence_spans(text)
    sentences = [text[a:b] for a, b in spans]
    assert sentences[0] == (
        "Diplomatic Efforts Intensify Amid Ceasefire Hope Between Ukraine and Russia"
    )
    assert any(s.startswith("U.S. President Donald Trump recently announced") for s in sentences)
    assert not any(s == "U.S." for s in sentences)
    assert all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    # Everything between sentences is whitespace: no text is lost.
    gaps = [text[b1:a2] for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False)]
    assert all(not gap.strip() for gap in gaps)


def test_content_terms_drop_stopwords_and_stem():
    assert content_terms("What did the soldiers say about surrendering?") == [
        "soldier",
        "say",
        "surrend",
    ]


def test_names_in_skips_the_first_word_question_words_and_initials():
    assert names_in("What did Emmanuel Macron say?") == ["Emmanuel", "Macron"]
    assert names_in("Has U.S. military aid to Ukraine resumed?") == ["Ukraine"]
    assert names_in("And What about it?") == []
