"""UI helpers without a browser: escaping, streaming pieces, upload names, auth setting."""

import pytest

from rag import Answer, AnswerSpan, Citation, Passage, RagError
from rag.loaders import safe_file_name
from ui.app import auth_pairs
from ui.render import render_message, render_sources, stream_message

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def _answer(text: str, refused: bool = False) -> Answer:
    citation = Citation(1, "d", f"/tmp/{EVIL}.txt", EVIL, EVIL, 0, 1, f"a {EVIL} b", 1.0)
    passage = Passage(1, "c", "d", f"/tmp/{EVIL}.txt", EVIL, EVIL, 0, 1, 1.0)
    return Answer(EVIL, EVIL, text, [] if refused else [citation], [passage], refused, EVIL)


@pytest.mark.parametrize("refused", [False, True])
def test_document_and_user_text_is_escaped(refused):
    answer = _answer(f"{EVIL} [1]", refused)
    for rendered in (render_sources(answer), render_message(answer)):
        assert "<img" not in rendered and "<script" not in rendered
        assert "&lt;script&gt;" in rendered


def test_the_quote_is_highlighted_inside_its_passage():
    rendered = render_sources(_answer("x [1]"))
    assert '<li id="src-1" class="source">' in rendered
    assert "a <mark>&lt;img" in rendered and "&lt;/script&gt;</mark> b" in rendered


def test_markers_become_links_to_their_source():
    rendered = render_message(Answer("q", "q", "One. [1] Two. [2]", [], []))
    assert '<a class="cite" href="#src-1">[1]</a>' in rendered
    assert 'href="#src-2"' in rendered


def test_code_in_an_answer_is_shown_as_code_and_escaped():
    text = f"The easy way: [1] \n```\nps -o {EVIL}\n```\n [1] or `yq -y <in>` [2]"
    rendered = render_message(Answer("q", "q", text, [], []))
    assert "<pre><code>ps -o &lt;img" in rendered and "</code></pre>" in rendered
    assert "<code>yq -y &lt;in&gt;</code>" in rendered
    assert "```" not in rendered and "<script" not in rendered


def test_the_answer_phrase_is_marked_in_the_answer_and_in_its_quote():
    quote = "Dmitri Peskov, spokesperson for the Kremlin, spoke."
    citation = Citation(1, "d", "/tmp/a.txt", "T", quote, 100, 100 + len(quote), quote, 1.0)
    span = AnswerSpan("spokesperson for the Kremlin", "/tmp/a.txt", 115, 143)
    answer = Answer("q", "q", f"{quote} [1]", [citation], [], answer_span=span)
    assert '<strong class="phrase">spokesperson for the Kremlin</strong>' in render_message(answer)
    sources = render_sources(answer)
    assert (
        '<mark>Dmitri Peskov, <strong class="phrase">spokesperson for the Kremlin</strong>'
        in sources
    )


def test_a_citation_shows_the_section_it_stands_in():
    citation = Citation(1, "d", "/tmp/faq.txt", "FAQ", "q", 0, 1, "q", 1.0, section=EVIL)
    rendered = render_sources(Answer("q", "q", "q [1]", [citation], []))
    assert '<p class="section">&lt;img' in rendered


def test_an_answer_streams_one_cited_sentence_at_a_time():
    answer = Answer("q", "q", "First sentence. [1] Second one, longer. [1] [2]", [], [])
    pieces = list(stream_message(answer))
    assert len(pieces) == 2
    assert "First sentence." in pieces[0] and "Second" not in pieces[0]
    assert pieces[-1] == render_message(answer)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("notes <b>.md", "notes _b_.md"),
        ("...", "upload.txt"),
        (".hidden.txt", "hidden.txt"),
    ],
)
def test_upload_names_cannot_escape_the_uploads_folder(name, safe):
    assert safe_file_name(name) == safe


def test_auth_setting_from_a_pair_or_a_file(tmp_path):
    assert auth_pairs(None) is None
    assert auth_pairs("ann:s3:cret") == [("ann", "s3:cret")]
    users = tmp_path / "users"
    users.write_text("ann:one\nbob:two\n")
    assert auth_pairs(str(users)) == [("ann", "one"), ("bob", "two")]
    with pytest.raises(RagError, match="user:password"):
        auth_pairs("no-colon")


def test_a_pdf_citation_names_its_page():
    citation = Citation(1, "d", "/tmp/r.pdf", "T", "quote", 10, 15, "a quote b", 1.0, page=3)
    rendered = render_sources(Answer("q", "q", "x [1]", [citation], []))
    assert "page 3, chars 10–15" in rendered


def test_llm_notices_and_removed_sentences_show_escaped_and_without_the_removed_text():
    from dataclasses import replace

    from rag.types import Dropped
    from ui.render import render_partial

    removed = Dropped(f"Invented {EVIL} [1]", f"the number 9 {EVIL} is not in it", 0.2)
    answer = replace(_answer("x [1]"), notice=f"Fell back {EVIL}", dropped=[removed])
    message, sources = render_message(answer), render_sources(answer)
    assert '<p class="notice">Fell back &lt;img' in message
    assert "1 sentence(s) of the language model removed" in sources
    assert "the number 9 &lt;img" in sources and "Invented" not in sources + message
    partial = render_partial(f"{EVIL} [2]")
    assert "<script" not in partial and 'href="#src-2"' in partial and "streaming" in partial


def test_an_upload_never_overwrites_another_document(tmp_path):
    from ui.uploads import store_upload

    uploads, incoming = tmp_path / "uploads", tmp_path / "incoming"
    uploads.mkdir()
    incoming.mkdir()
    (uploads / "report.txt").write_text("Alice's report.")
    theirs = incoming / "report.txt"
    theirs.write_text("Bob's report.")
    stored, new = store_upload(theirs, uploads)
    assert (stored.name, new) == ("report-2.txt", True)
    assert (uploads / "report.txt").read_text() == "Alice's report."
    again, new = store_upload(theirs, uploads)  # the same bytes: the same document
    assert (again, new) == (stored, False)
    odd = incoming / "..evil name?.txt"
    odd.write_text("x")
    assert store_upload(odd, uploads)[0].parent == uploads


def test_the_browser_secret_is_made_once_and_private(tmp_path):
    from rag import Settings
    from ui.app import browser_secret

    settings = Settings(data_dir=tmp_path / "data")
    first = browser_secret(settings)
    assert len(first) >= 32 and browser_secret(settings) == first
    assert (settings.data_dir / "ui-secret").stat().st_mode & 0o777 == 0o600
