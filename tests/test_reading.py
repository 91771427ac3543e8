"""Reading documents as people keep them: blocks, sections, sentences across wraps, markup.

Fixtures are small texts in the patterns of real files (a tab-indented FAQ, a numbered FAQ
with its contents, a man page, a NEWS file, reStructuredText, Markdown, HTML, DOCX). No model.
"""

import pytest
from docx import Document as DocxDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.reading.blocks import (
    CODE,
    EXTRACTED,
    HEADING,
    ITEM,
    LEGAL,
    MARKDOWN,
    PLAIN,
    QUESTION,
    ROW,
    RST,
    TERM,
    TEXT,
    TOC,
    format_of,
)
from rag.reading.chunks import chunk_view, sentence_texts
from rag.reading.html import docx_to_text, html_to_text
from rag.reading.units import read_units, unit_text
from rag.reading.view import reading_view
from rag.text import sentence_spans

FAQ = """Why does "ps -aux" complain about a bogus '-'?

\tAccording to the POSIX and UNIX standards, the above command asks to
\tdisplay all processes with a TTY (generally the commands users are
\trunning) plus all processes owned by a user named "x".  If that user
\tdoesn't exist, then ps will assume you really meant "ps aux".

Why do long usernames get printed as numbers?

\tThe UNIX and POSIX standards require that user names and group names
\tbe printed as decimal integers when there is not enough room in the
\tcolumn.  The easy way is to directly specify the desired width:

\t\tps -o pid,user:19,comm

Why do ps and top show threads individually?

\tThe 2.4.xx kernel does not provide proper support for grouping
\tthreads by process.  Hacks exist to group them anyway.
"""

NUMBERED_FAQ = """\t\tFrequently Asked Questions about lsof

Table of Contents:

1.0\tGeneral Concepts
1.1\tLsof -- what is it?
1.2\tWhere do I get lsof?
1.2.1\tAre there mirror sites?

1.0\tGeneral Concepts

1.1\tLsof -- what is it?

\tLsof is a UNIX-specific tool.  Its name stands for LiSt
\tOpen Files, and it does just that.  It lists information
\tabout files that are open by the processes running on a
\tUNIX system.

1.2\tWhere do I get lsof?

\tLsof is available via anonymous ftp from lsof.itap.purdue.edu.

1.2.1\tAre there mirror sites?

\tOn March 21, 2013 these sites appeared to have the latest
\tlsof revision.
"""

MAN_PAGE = """SSH_CONFIG(5)                 File Formats Manual                SSH_CONFIG(5)

NAME
     ssh_config - OpenSSH client configuration file

DESCRIPTION
     The possible keywords and their meanings are as follows (note that key-
     words are case-insensitive and arguments are case-sensitive):

     Port    Specifies the port number to connect on the remote host.  The de-
             fault is 22.

     ServerAliveCountMax
             Sets the number of server alive messages which may be sent without
             ssh(1) receiving any messages back from the server.  The default
             value is 3.

   Size suffixes
       Suffix    Units                   Byte Equivalent
       b         Blocks                  SIZE x 512
       w         Words                   SIZE x 2
"""

NEWS = """GNU tar NEWS - User visible changes. 2021-02-13

version 1.31 - Sergey Poznyakoff, 2019-01-02

* Fix heap-buffer-overrun with --one-top-level.

* Support for zstd compression

New option '--zstd' instructs tar to use zstd as compression program.

version 1.30 - Sergey Poznyakoff, 2017-12-17

* Member names containing '..' components are now skipped when extracting.
"""

RST_TEXT = """yq: Command-line YAML processor - jq wrapper for YAML documents
================================================================

Installation
------------
::

    pip3 install yq

Before using ``yq``, you also have to install its dependency, ``jq``. See the `jq
installation instructions <https://stedolan.github.io/jq/download/>`_ for details.

Like in :command:`jq`, you can also specify input filename(s) as arguments::

    yq .foo.bar input.yml
    yq -y .foo.bar input.yml

.. note:: A note is read as text.
"""

MARKDOWN_TEXT = """# nss-mdns

- [License](#license)
- [Overview](#overview)

## License

This program is free software; you can redistribute it and/or
modify it under the terms of the GNU Lesser General Public License.

## Overview

`nss-mdns` is a **plugin** for the GNU Name Service Switch (NSS)
providing host name resolution via [Multicast DNS](http://www.multicastdns.org/)
(aka *Zeroconf*). It works!

| Module | Protocols |
| --- | --- |
| `libnss_mdns4.so.2` | IPv4 only |
| `libnss_mdns6.so.2` | IPv6 only |

```
hosts: files mdns4_minimal [NOTFOUND=return] dns
```

* `--disable-setuid`

  By default, man will be installed as a setuid program.
"""

HTML_PAGE = """<!DOCTYPE html><html><head><title>The Ninja build system</title>
<script>var x = "<p>not text</p>";</script></head><body>
<div class="related" role="navigation"><ul><li><a href="index.html">Home</a> &#187;</li></ul></div>
<nav><a href="#">Skip to content</a></nav>
<ul><li><a href="#intro">Introduction</a></li><li><a href="#env">Environment</a></li></ul>
<h1 id="intro">Introduction<a class="headerlink" href="#intro">¶</a></h1>
<p>Ninja is yet another build system. It takes as input the interdependencies
of files and orchestrates building them, <em>quickly</em>.</p>
<h2 id="env">Environment variables</h2>
<p>Several placeholders are available:</p>
<dl><dt>%s</dt><dd>The number of started edges.</dd><dt>%r</dt><dd>The number of
currently running edges.</dd></dl>
<pre>ninja -t browse --port=8000 --no-browser mytarget
ninja -C build</pre>
<table><tr><th>Tool</th><th>Use</th></tr><tr><td>query</td><td>dump the inputs and
outputs of a given target.</td></tr></table>
<footer><p>&copy; Copyright 2022, Google. Built with Sphinx.</p></footer>
</body></html>"""


def _units(text, fmt):
    return [(u.kind, unit_text(text, u, fmt), u.section) for u in read_units(text, fmt)]


def _answers(text, fmt):
    """The units an answer may quote, as shown."""
    return [shown for kind, shown, _ in _units(text, fmt) if kind not in (HEADING, QUESTION, TOC)]


def test_a_wrapped_faq_reads_whole_sentences_under_their_question():
    units = _units(FAQ, PLAIN)
    questions = [shown for kind, shown, _ in units if kind == QUESTION]
    assert questions == [
        "Why does \"ps -aux\" complain about a bogus '-'?",
        "Why do long usernames get printed as numbers?",
        "Why do ps and top show threads individually?",
    ]
    sentences = {shown: section for kind, shown, section in units if kind == TEXT}
    # Wrapped lines join; a sentence ends at its punctuation, not at a line's end.
    whole = "The 2.4.xx kernel does not provide proper support for grouping threads by process."
    assert sentences[whole] == "Why do ps and top show threads individually?"
    assert not any(s.endswith(("to", "the", "are")) for s in sentences)


def test_a_sentence_ending_in_a_colon_keeps_its_command_whole_as_code():
    units = _units(FAQ, PLAIN)
    kinds = [(k, s) for k, s, _ in units]
    at = kinds.index((TEXT, "The easy way is to directly specify the desired width:"))
    assert kinds[at + 1] == (CODE, "ps -o pid,user:19,comm")


def test_a_numbered_faq_contents_list_is_not_its_questions():
    units = _units(NUMBERED_FAQ, PLAIN)
    toc = [shown for kind, shown, _ in units if kind == TOC]
    assert toc == [
        "General Concepts",
        "Lsof -- what is it?",
        "Where do I get lsof?",
        "Are there mirror sites?",
    ]
    sentences = {shown: section for kind, shown, section in units if kind == TEXT}
    name = "Its name stands for LiSt Open Files, and it does just that."
    assert sentences[name] == "General Concepts › Lsof -- what is it?"
    mirrors = "On March 21, 2013 these sites appeared to have the latest lsof revision."
    assert sentences[mirrors].endswith("Where do I get lsof? › Are there mirror sites?")


def test_a_man_page_reads_sections_tags_hyphenation_and_tables():
    units = _units(MAN_PAGE, PLAIN)
    by_text = {shown: (kind, section) for kind, shown, section in units}
    assert by_text["NAME"][0] == HEADING and by_text["DESCRIPTION"][0] == HEADING
    assert by_text["Port"] == (TERM, "DESCRIPTION")
    # The typesetter's "de-\n fault" reads as one word; the quote keeps the source's characters.
    assert by_text["The default is 22."] == (TEXT, "DESCRIPTION › Port")
    assert by_text["The default value is 3."] == (TEXT, "DESCRIPTION › ServerAliveCountMax")
    assert "The possible keywords and their meanings are as follows (note that keywords" in (
        " ".join(by_text)
    )
    rows = [shown for kind, shown, _ in units if kind == ROW]
    assert "w Words SIZE x 2" in rows and len(rows) == 3
    spans = [(u.start, u.end) for u in read_units(MAN_PAGE, PLAIN) if u.kind == TEXT]
    default = next(MAN_PAGE[a:b] for a, b in spans if "de-" in MAN_PAGE[a:b])
    assert default == "The de-\n             fault is 22."


def test_an_item_wrapped_back_to_its_marker_column_reads_whole():
    # valgrind's FAQ and tar's NEWS wrap numbered entries and bullets without hanging indent.
    text = (
        "4.1. My program uses the C++ STL and string classes. Valgrind reports\n"
        "'still reachable' memory leaks involving these classes at the exit of\n"
        "the program, but there should be none.\n"
        "\n"
        "* New option --remove-files deletes files (but not directories)\n"
        "after they are added to the archive.\n"
        "* Short item\n"
        "Next line starts a paragraph.\n"
    )
    answers = _answers(text, PLAIN)
    leaks = (
        "Valgrind reports 'still reachable' memory leaks involving these classes at the exit "
        "of the program, but there should be none."
    )
    assert any(a.endswith(leaks) for a in answers), answers
    assert not any(a.startswith(("'still", "after they")) for a in answers), answers
    assert (
        "New option --remove-files deletes files (but not directories) after they are added to "
        "the archive." in answers
    )
    assert "Short item" in answers and "Next line starts a paragraph." in answers


def test_news_items_stand_under_their_release():
    units = _units(NEWS, PLAIN)
    items = {shown: section for kind, shown, section in units if kind == ITEM}
    assert items["Support for zstd compression"] == "version 1.31 - Sergey Poznyakoff, 2019-01-02"
    assert (
        items["Member names containing '..' components are now skipped when extracting."]
        == "version 1.30 - Sergey Poznyakoff, 2017-12-17"
    )


def test_rst_titles_literal_blocks_and_roles():
    units = _units(RST_TEXT, RST)
    headings = [shown for kind, shown, _ in units if kind == HEADING]
    assert headings == [
        "yq: Command-line YAML processor - jq wrapper for YAML documents",
        "Installation",
    ]
    code = [shown for kind, shown, _ in units if kind == CODE]
    assert code == ["pip3 install yq", "yq .foo.bar input.yml\nyq -y .foo.bar input.yml"]
    texts = [shown for kind, shown, _ in units if kind == TEXT]
    assert "Before using yq, you also have to install its dependency, jq." in texts
    assert "See the jq installation instructions for details." in texts
    assert "Like in jq, you can also specify input filename(s) as arguments:" in texts
    assert "A note is read as text." in texts


def test_markdown_tables_code_definitions_contents_and_markup():
    units = _units(MARKDOWN_TEXT, MARKDOWN)
    kinds = {shown: kind for kind, shown, _ in units}
    assert kinds["License"] == HEADING and kinds["Overview"] == HEADING
    assert [s for k, s, _ in units if k == TOC] == ["License", "Overview"]
    assert kinds["libnss_mdns4.so.2 | IPv4 only"] == ROW
    assert kinds["hosts: files mdns4_minimal [NOTFOUND=return] dns"] == CODE
    assert kinds["--disable-setuid"] == TERM
    sections = {shown: section for _, shown, section in units}
    assert sections["By default, man will be installed as a setuid program."].endswith(
        "--disable-setuid"
    )
    plugin = (
        "nss-mdns is a plugin for the GNU Name Service Switch (NSS) providing host name "
        "resolution via Multicast DNS (aka Zeroconf)."
    )
    assert kinds[plugin] == TEXT and sections[plugin] == "nss-mdns › Overview"
    assert all(kind == LEGAL for kind, _, section in units if section.endswith("License"))


def test_a_github_alert_marker_is_markup():
    text = "# Build\n\n> [!TIP]\n> If you build on Windows, enable symlinks.\n"
    assert _answers(text, MARKDOWN) == ["If you build on Windows, enable symlinks."]


def test_a_quote_keeps_the_markup_at_its_edges():
    units = [u for u in read_units(MARKDOWN_TEXT, MARKDOWN) if u.kind == TEXT]
    plugin = next(u for u in units if "plugin" in MARKDOWN_TEXT[u.start : u.end])
    assert MARKDOWN_TEXT[plugin.start : plugin.end].startswith("`nss-mdns` is a **plugin**")


def test_html_is_read_by_its_structure_without_navigation_or_footer():
    text, title = html_to_text(HTML_PAGE)
    assert title == "The Ninja build system"
    for furniture in ("Home", "Skip to content", "Copyright", "¶", "not text", "Environment\n"):
        assert furniture not in text
    units = _units(text, EXTRACTED)
    kinds = {shown: kind for kind, shown, _ in units}
    assert kinds["Introduction"] == HEADING
    assert kinds["Ninja is yet another build system."] == TEXT
    takes = (
        "It takes as input the interdependencies of files and orchestrates building them, quickly."
    )
    assert kinds[takes] == TEXT
    assert kinds["ninja -t browse --port=8000 --no-browser mytarget\nninja -C build"] == CODE
    sections = {shown: section for _, shown, section in units}
    running = "The number of currently running edges."
    assert sections[running] == "Introduction › Environment variables › %r"
    assert kinds["query | dump the inputs and outputs of a given target."] == ROW


def test_a_texinfo_manual_drops_its_navigation_bars_and_anchors():
    page = """<html><body><div class="chapter" id="Options">
<div class="header"><p>Next: <a href="#Format" accesskey="n" rel="next">The Format</a>,
Previous: <a href="#Top" rel="prev">Time</a>, Up: <a href="#Top" rel="up">Time</a> &nbsp;
[<a href="#SEC_Contents" rel="contents">Contents</a>]</p></div>
<h2 class="chapter">1 Options</h2>
<p>See the <a href="#Format" rel="next">next chapter</a> for the format string.</p>
<dl><dt id="index-v"><span><code>-v</code><a href="#index-v" class="copiable-anchor"> &para;</a>
</span></dt><dd><p>Use the built-in verbose format.</p></dd></dl>
</div></body></html>"""
    text, _ = html_to_text(page)
    assert "Next:" not in text and "Contents" not in text and "¶" not in text
    assert "See the next chapter for the format string." in text  # a sentence with a link stays
    sections = {shown: section for _, shown, section in _units(text, EXTRACTED)}
    assert sections["Use the built-in verbose format."] == "1 Options › -v"


def test_docx_headings_and_list_items_come_from_styles(tmp_path):
    document = DocxDocument()
    document.add_heading("Release notes", level=1)
    document.add_paragraph("The ferry now leaves at nine.")
    document.add_paragraph("Tickets are sold on board", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Route", "Time"
    table.cell(1, 0).text, table.cell(1, 1).text = "Oslo", "09:00"
    units = _units(docx_to_text(document), EXTRACTED)
    kinds = {shown: (kind, section) for kind, shown, section in units}
    assert kinds["Release notes"] == (HEADING, "")
    assert kinds["The ferry now leaves at nine."] == (TEXT, "Release notes")
    assert kinds["Tickets are sold on board"] == (ITEM, "Release notes")
    assert kinds["Oslo | 09:00"][0] == ROW


def test_one_paragraph_per_line_text_reads_as_before():
    """Clean prose (the seed, SQuAD, HotpotQA): every line is a paragraph, as it always was."""
    text = (
        "Headline Without A Period\n"
        "March 13, 2025 - First sentence here. Second one follows.\n"
        "A new paragraph starts. It has two sentences.\n"
    )
    old = [text[a:b] for a, b in sentence_spans(text) if text[a:b].strip()]
    new = [text[u.start : u.end] for u in read_units(text, PLAIN)]
    assert new == old


def test_chunks_embed_their_view_and_sentences_their_section():
    meta = {"file_name": "faq.txt"}
    view = chunk_view(FAQ, meta)
    assert len(view) == len(FAQ)
    units = [u for u in read_units(FAQ, PLAIN) if u.kind == TEXT]
    spans = [(units[-1].start, units[-1].end)]
    texts = sentence_texts("procps FAQ", FAQ, {}, spans)
    assert texts == [
        "procps FAQ: Why do ps and top show threads individually?: "
        "Hacks exist to group them anyway."
    ]


def test_a_contents_list_is_blanked_in_what_is_embedded():
    view = chunk_view(NUMBERED_FAQ, {"file_name": "lsof-faq.txt"})
    contents = NUMBERED_FAQ.index("1.2.1\tAre there mirror sites?")
    assert "mirror" not in view[: contents + 40]
    assert "mirror sites" in view[contents + 40 :]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.md", MARKDOWN), ("a.RST", RST), ("a.txt", PLAIN), ("a.pdf", PLAIN), ("a.html", EXTRACTED)],
)
def test_formats_by_suffix(name, fmt):
    assert format_of(name) == fmt


_TEXT = st.text(alphabet=st.sampled_from(list("ab ?.:-*`_#=|<>&;\t\nlx1")), max_size=300)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, fmt=st.sampled_from([PLAIN, RST, MARKDOWN, EXTRACTED]))
def test_any_text_reads_into_ordered_units_inside_it(text, fmt):
    assert len(reading_view(text, fmt)) == len(text)
    previous_end = 0
    for unit in read_units(text, fmt):
        assert 0 <= unit.start < unit.end <= len(text)
        assert unit.start >= previous_end
        previous_end = unit.end
