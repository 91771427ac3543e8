"""Answers from documents as people keep them: whole sentences and blocks, never a wrapped
line, a heading, an FAQ question or markup; every quote the source's own characters.

One real index (the packaged model, FAISS) over small files in the patterns of real ones.
"""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import RagEngine, Settings
from rag.cli import app
from rag.loaders import read_source_text
from tests.conftest import make_pdf, write_files
from tests.test_reading import FAQ, HTML_PAGE, MAN_PAGE, MARKDOWN_TEXT, NEWS, RST_TEXT

pytestmark = pytest.mark.slow

PDF_PAGE = (
    "Ferry Timetable\n"
    "The morning ferry leaves the harbour at nine and the evening ferry at\n"
    "seven. Tickets for the crossing are sold on board; reser-\n"
    "vations are accepted by telephone."
)


# A man page's option whose description introduces an indented list of values.
TAR_PAGE = """TAR(1)                        GNU TAR Manual                        TAR(1)

OPTIONS
   Archive format selection
       -H, --format=FORMAT
              Create archive of the given format.  Valid formats are:

              gnu    GNU tar 1.13.x format

              oldgnu GNU format as per tar <= 1.12.

              pax, posix
                     POSIX 1003.1-2001 (pax) format.

              ustar  POSIX 1003.1-1988 (ustar) format.

              v7     Old V7 tar format.

              Tape drives need their block size set before the first
              write.

       --old-archive, --portability
              Same as --format=v7.
"""


# Sentences that lean on their neighbour: "This is …" names what the sentence before said.
LEANING_FAQ = """Why must packaged scripts name their interpreter directly?

\tMaintainers should not start a packaged script through /usr/bin/env,
\twhatever interpreter it needs.  This is not advisable as it bypasses the
\tdependency checking of the packaging system.  Shells are never affected.

How do I set up a build machine for the resolver?

\tA setup script prepares a fresh machine for resolver development.
\tThis script installs the following packages:

\t  * git for the sources
\t  * python3 for the tests

Can the resolver read hosts files?

\tNo, sorry.  The resolver reads hosts files only once the bundled
\thosts2db tool has converted them.

What is the two-label rule of the resolver?

\tThe resolver refuses any host name that has more than two labels, so
\tfoo.bar.local is never looked up.  This is the two-label rule of the
\tresolver.  Resolvers elsewhere may differ.
"""

# A NEWS item whose unindented introducer brings an indented list of option values.
LISTING_NEWS = """version 2.9 - Jane Doe, 2016-05-16

* Gap detection

New option --gap-detection is provided, that allows the user to
select the algorithm used for gap detection.  Available arguments
are:

  --gap-detection=probe
     Ask the file system where the gaps are.

  --gap-detection=scan
     Read the whole file before storing it.

The default is to probe whenever the file system allows it, and to
scan otherwise.
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> RagEngine:
    root = tmp_path_factory.mktemp("realistic")
    corpus = write_files(
        root / "corpus",
        {
            "procps-faq.txt": FAQ,
            "ssh_config.5.txt": MAN_PAGE,
            "tar.1.txt": TAR_PAGE,
            "tar-news.txt": NEWS,
            "yq-readme.rst": RST_TEXT,
            "nss-mdns-readme.md": MARKDOWN_TEXT,
            "ninja-manual.html": HTML_PAGE,
            "packaging-faq.txt": LEANING_FAQ,
            "gaps-news.txt": LISTING_NEWS,
        },
    )
    make_pdf(corpus / "ferry.pdf", [PDF_PAGE])
    engine = RagEngine(Settings(data_dir=root / "data"))
    report = engine.ingest([corpus])
    assert report.count("added") == 10, report.rejected
    return engine


def _flat(text: str) -> str:
    return " ".join(text.split())


def _assert_verbatim(answer) -> None:
    assert answer.citations
    for c in answer.citations:
        assert read_source_text(c.source)[c.start : c.end] == c.quote


def test_a_wrapped_faq_answer_is_the_whole_sentence_not_its_lines(engine):
    answer = engine.ask("Why do ps and top show threads individually?")
    _assert_verbatim(answer)
    first = answer.citations[0]
    assert Path(first.source).name == "procps-faq.txt"
    assert answer.text.startswith(
        "The 2.4.xx kernel does not provide proper support for grouping threads by process."
    )
    assert "\n" in first.quote and "\t" in first.quote  # it crosses a wrapped line
    assert "\t" not in answer.text
    assert first.section == "Why do ps and top show threads individually?"
    assert first.offsets == "file"


def test_an_faq_question_line_is_never_the_answer(engine):
    answer = engine.ask("Why do long usernames get printed as numbers?")
    _assert_verbatim(answer)
    assert "?" not in answer.text.split("[1]")[0]
    assert "decimal integers" in answer.text


def test_a_how_to_answer_brings_the_command_it_introduces(engine):
    answer = engine.ask("How do I give the user column a wider width in ps?")
    _assert_verbatim(answer)
    assert "The easy way is to directly specify the desired width:" in answer.text
    assert "`ps -o pid,user:19,comm`" in answer.text


def test_an_indented_list_a_man_page_introduces_comes_whole_and_ends_with_it(engine):
    answer = engine.ask("Which archive formats can tar create with --format?")
    _assert_verbatim(answer)
    for entry in ("gnu GNU tar", "oldgnu GNU format", "(pax) format", "ustar POSIX", "v7 Old V7"):
        assert entry in _flat(answer.text), entry
    assert "Tape drives" not in answer.text  # a paragraph at the list's depth ends it
    assert "Same as --format=v7" not in answer.text  # the next option


def test_the_sentence_leaning_on_the_answer_comes_with_it(engine):
    answer = engine.ask("Why shouldn't a packaged script be started through /usr/bin/env?")
    _assert_verbatim(answer)
    flat = _flat(answer.text)
    lead = "Maintainers should not start a packaged script through /usr/bin/env,"
    assert flat.startswith(lead), flat
    assert "This is not advisable as it bypasses the dependency checking" in flat


def test_a_sentence_brought_twice_is_shown_once(engine):
    # The setup sentence brings the next (it leans back), which introduces the list.
    answer = engine.ask("How do I set up a build machine for resolver development?")
    _assert_verbatim(answer)
    flat = _flat(answer.text)
    assert flat.count("This script installs the following packages:") == 1, flat
    assert "git for the sources" in flat and "python3 for the tests" in flat


def test_the_first_unit_under_an_faq_question_answers_it(engine):
    answer = engine.ask("Can the resolver read hosts files?")
    _assert_verbatim(answer)
    assert _flat(answer.text).startswith("No, sorry.")


def test_a_sentence_leaning_on_the_one_before_comes_after_it(engine):
    answer = engine.ask("What is the two-label rule of the resolver?")
    _assert_verbatim(answer)
    flat = _flat(answer.text)
    assert flat.startswith("The resolver refuses any host name that has more than two labels")
    assert flat.index("more than two labels") < flat.index("This is the two-label rule")


def test_how_many_is_answered_by_the_list_an_unindented_line_introduces(engine):
    answer = engine.ask("How many gap-detection algorithms can I choose from?")
    _assert_verbatim(answer)
    assert not answer.refused, answer.refusal_reason
    flat = _flat(answer.text)
    # Each entry's name (an option tag, never an answer on its own) comes before its description.
    assert flat.index("--gap-detection=probe") < flat.index("Ask the file system")
    assert flat.index("--gap-detection=scan") < flat.index("Read the whole file")
    assert "The default is" not in flat  # a paragraph at the introducer's depth ends the list
    # The release the item stands under is shown once, before the first of its sentences.
    assert flat.count("version 2.9 - Jane Doe, 2016-05-16") == 1
    assert flat.startswith("version 2.9 - Jane Doe, 2016-05-16 › New option --gap-detection")


def test_rst_markup_is_not_shown_and_code_stays_code(engine):
    answer = engine.ask("What does yq need installed before it can be used?")
    _assert_verbatim(answer)
    assert "Before using yq, you also have to install its dependency, jq." in answer.text
    assert "``" not in answer.text and "`_" not in answer.text
    install = engine.ask("Which command installs yq?")
    _assert_verbatim(install)
    assert "pip3 install yq" in install.text


def test_a_markdown_table_row_answers_whole(engine):
    answer = engine.ask("Which nss-mdns module handles IPv6 only?")
    _assert_verbatim(answer)
    assert "libnss_mdns6.so.2 | IPv6 only" in answer.text
    assert "**" not in answer.text


def test_html_answers_come_from_content_with_extracted_offsets(engine, tmp_path):
    answer = engine.ask("What is Ninja?")
    _assert_verbatim(answer)
    assert "Ninja is yet another build system." in answer.text
    html_citations = [c for c in answer.citations if c.source.endswith(".html")]
    assert html_citations and all(c.offsets == "extracted" for c in html_citations)
    assert "Home" not in answer.text and "Copyright" not in answer.text
    env = {"RAG_DATA_DIR": str(engine.settings.data_dir)}
    result = CliRunner().invoke(app, ["docs", "show", html_citations[0].source], env=env)
    assert result.exit_code == 0, result.output
    c = html_citations[0]
    assert result.stdout[c.start : c.end] == c.quote


def test_an_html_pre_block_is_kept_whole(engine):
    answer = engine.ask("Which command opens the ninja browse tool on port 8000?")
    _assert_verbatim(answer)
    assert "ninja -t browse --port=8000 --no-browser mytarget\nninja -C build" in answer.text


def test_a_man_page_hyphenated_word_reads_whole_and_quotes_as_written(engine):
    answer = engine.ask("What is the default port ssh connects to on the remote host?")
    _assert_verbatim(answer)
    assert "The default is 22." in answer.text
    assert any("de-\n" in c.quote for c in answer.citations)
    assert answer.citations[0].section.endswith("Port")


def test_a_pdf_hyphenated_line_end_reads_as_one_word(engine):
    answer = engine.ask("How are reservations for the ferry made?")
    _assert_verbatim(answer)
    assert "reservations are accepted by telephone." in _flat(answer.text)
    assert any("reser-\nvations" in c.quote for c in answer.citations)
    assert answer.citations[0].offsets == "extracted"


def test_a_release_date_comes_from_the_heading_the_item_stands_under(engine):
    answer = engine.ask("In which tar release was zstd support added?")
    _assert_verbatim(answer)
    assert re.search(r"version 1\.31 - Sergey Poznyakoff, 2019-01-02 › .*zstd", answer.text)


def test_what_a_document_is_about_is_its_opening(engine):
    answer = engine.ask("What is the nss-mdns README about?")
    _assert_verbatim(answer)
    assert answer.text.startswith("nss-mdns is a plugin for the GNU Name Service Switch")
    assert "free software" not in answer.text  # the licence is passed over
    assert answer.retrieved[0].source.endswith("nss-mdns-readme.md")


def test_a_licence_notice_answers_only_a_licence_question(engine):
    about = engine.ask("Is nss-mdns free software?")
    _assert_verbatim(about)
    assert "free software" in about.text
    other = engine.ask("What does nss-mdns modify under the terms?")
    assert "redistribute" not in other.text


def test_docs_show_refuses_a_document_not_indexed(engine, tmp_path):
    stray = tmp_path / "stray.txt"
    stray.write_text("not indexed")
    env = {"RAG_DATA_DIR": str(engine.settings.data_dir)}
    result = CliRunner().invoke(app, ["docs", "show", str(stray)], env=env)
    assert result.exit_code == 1
    assert "not in the index" in result.output
