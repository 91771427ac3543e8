"""Sentence spans and content terms, on real text."""

import subprocess
import sys

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


def test_a_dotted_acronym_ends_a_sentence_only_before_a_sentence_starter():
    # Sentences from the hotpotqa corpus that punkt alone cuts after the acronym.
    for sentence in (
        "Incumbent Democratic U.S. Senator Daniel Inouye won re-election.",
        "R.E.M. was an American rock band that formed in Athens, Georgia in 1980.",
        "She earned her B.A. from Eastern College and an M.F.A. in Writing from Columbia.",
        "He joined P.C.L. (a precursor to Toho) in 1933 and began his career.",
        "The season featured O.J. Simpson becoming the first player to rush 2,000 yards.",
        'He starred as Chan Ming Lung a.k.a. "The Iron Ox" in Iron Ox, The Tiger\'s Killer.',
    ):
        assert [sentence[a:b] for a, b in sentence_spans(sentence)] == [sentence]
    # Before a capitalised frequent sentence starter the acronym ends the sentence.
    text = "It was released in 2004 as a vinyl single in the U.S. It was the title track."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "It was released in 2004 as a vinyl single in the U.S.",
        "It was the title track.",
    ]
    text = "It dates back to 900 A.D. In 2004 it was listed as the oldest pub."
    assert len(sentence_spans(text)) == 2


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


def test_chunking_imports_nltk_without_scipy_stats():
    # A fresh process: the splitter's own first `import nltk` would pull in scipy.stats (~3 s).
    script = (
        "import sys\n"
        "from llama_index.core import Document\n"
        "from llama_index.core.utils import get_tokenizer\n"
        "from rag.reading.splitter import make_splitter\n"
        "splitter = make_splitter(200, 20, get_tokenizer())\n"
        "nodes = splitter.get_nodes_from_documents([Document(text='One. Two. ' * 300)])\n"
        "assert len(nodes) > 1, nodes\n"
        "print('scipy.stats' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
