"""Loading files: formats, encodings, metadata; bad files rejected with a reason, the rest go on."""

import hashlib
import os
import time
import zipfile

import pytest
from docx import Document as DocxDocument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter

from rag.file_text import SUPPORTED_SUFFIXES, Limits, page_at
from rag.loaders import collect_files, load_documents, read_source_text
from tests.conftest import make_pdf


def _load(tmp_path, **limits):
    files, rejected = collect_files([tmp_path])
    documents, unreadable = load_documents(files, Limits(**limits))
    return {d.metadata["file_name"]: d for d in documents}, {
        r.path.rsplit("/", 1)[-1]: r.reason for r in rejected + unreadable
    }


def test_text_and_markdown_become_documents_with_metadata(tmp_path):
    (tmp_path / "a.txt").write_text("First line title\nMarch 13, 2025 - Body.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Heading Two\n\nMore text.\n", encoding="utf-8")
    documents, rejected = _load(tmp_path)
    assert rejected == {}
    a = documents["a.txt"]
    assert a.metadata["title"] == "First line title"
    assert a.metadata["date"] == "March 13, 2025"
    assert documents["b.md"].metadata["title"] == "Heading Two"
    assert a.metadata["sha256"] == hashlib.sha256((tmp_path / "a.txt").read_bytes()).hexdigest()
    assert a.doc_id == str((tmp_path / "a.txt").resolve())
    assert a.text == read_source_text(a.metadata["file_path"])
    assert "file_path" in a.excluded_embed_metadata_keys
    assert "title" not in a.excluded_embed_metadata_keys


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("Grüße aus Köln\r\nzweite Zeile".encode("utf-16"), "Grüße aus Köln\nzweite Zeile"),
        ("\ufeffCafé crème\n".encode(), "Café crème\n"),
        ("Ceci est un café crème très épais, et très bon.\n".encode("latin-1"), "très épais"),
        ("Smart “quotes” — and a dash, in Windows-1252 text.\n".encode("cp1252"), "“quotes”"),
    ],
)
def test_common_encodings_are_decoded(tmp_path, data, text):
    (tmp_path / "doc.txt").write_bytes(data)
    documents, rejected = _load(tmp_path)
    assert rejected == {}
    assert text in documents["doc.txt"].text
    assert documents["doc.txt"].text == read_source_text(tmp_path / "doc.txt")


def test_html_keeps_the_text_and_drops_scripts_and_styles(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Harbour report</h1><script>alert('x')</script><p>Ships leave at dawn.</p>"
        "</body></html>"
    )
    documents, _ = _load(tmp_path)
    text = documents["page.html"].text
    assert "Harbour report" in text and "Ships leave at dawn." in text
    assert "alert" not in text and "color" not in text
    assert documents["page.html"].metadata["title"] == "T"  # its <title>
    (tmp_path / "page.html").write_text("<h1>Harbour report</h1><p>Ships leave at dawn.</p>")
    documents, _ = _load(tmp_path)
    assert documents["page.html"].metadata["title"] == "Harbour report"  # else its first heading


def test_an_html_file_whose_text_looks_like_a_file_name_is_loaded_quietly(tmp_path):
    # BeautifulSoup warns that such markup "looks like a filename" (found by the fuzz test).
    (tmp_path / "odd.html").write_text(".TXT")
    documents, rejected = _load(tmp_path)
    assert rejected == {}
    assert documents["odd.html"].text == ".TXT"


def test_pdf_pages_are_kept_so_citations_can_name_them(tmp_path):
    make_pdf(tmp_path / "report.pdf", ["The first page talks of ferries.", "Page two: trains."])
    documents, rejected = _load(tmp_path)
    assert rejected == {}
    text = documents["report.pdf"].text
    assert "ferries" in text and "trains" in text
    assert page_at(tmp_path / "report.pdf", text.index("ferries")) == 1
    assert page_at(tmp_path / "report.pdf", text.index("trains")) == 2
    assert page_at(tmp_path / "report.pdf", 0) == 1
    assert read_source_text(tmp_path / "report.pdf") == text
    (tmp_path / "report.pdf").unlink()  # moved away after indexing: no page, no crash
    assert page_at(tmp_path / "report.pdf", 0) is None


def test_docx_paragraphs_become_blocks_headings_marked_by_their_style(tmp_path):
    document = DocxDocument()
    document.add_heading("Minutes", level=1)
    document.add_paragraph("The board approved the budget.")
    document.save(tmp_path / "minutes.docx")
    documents, _ = _load(tmp_path)
    assert documents["minutes.docx"].text.split("\n\n") == [
        "# Minutes",
        "The board approved the budget.",
    ]
    assert documents["minutes.docx"].metadata["title"] == "Minutes"


def _encrypted_pdf(path):
    make_pdf(path, ["secret text"])
    writer = PdfWriter(clone_from=str(path))
    writer.encrypt("pw")
    writer.write(str(path))


def _blank_pdf(path):
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.write(str(path))


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.txt", lambda p: p.write_bytes(b""), "empty file"),
        ("blank.md", lambda p: p.write_bytes(b"  \n\t\n"), "empty file"),
        ("png.txt", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "binary"),
        ("nul.txt", lambda p: p.write_bytes(b"text\x00with nul"), "binary"),
        ("junk.pdf", lambda p: p.write_bytes(b"%PDF-1.4 not really"), "malformed PDF"),
        ("locked.pdf", _encrypted_pdf, "encrypted PDF"),
        ("scan.pdf", _blank_pdf, "OCR found no text"),
        ("junk.docx", lambda p: p.write_bytes(b"PK\x03\x04 nope"), "malformed DOCX"),
        ("empty.html", lambda p: p.write_text("<html><script>x()</script></html>"), "HTML"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_others_still_load(tmp_path, name, make, reason):
    make(tmp_path / name)
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    documents, rejected = _load(tmp_path)
    assert list(documents) == ["good.txt"]
    assert list(rejected) == [name]
    assert reason in rejected[name]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 100_000)
    documents, rejected = _load(tmp_path, max_bytes=100_000)
    assert documents == {}
    assert "MB limit (RAG_MAX_FILE_MB)" in rejected["big.txt"]


def _docx_bomb(path, unpacked_mb: int) -> None:
    """A DOCX whose document.xml unpacks to `unpacked_mb` MB (of one repeated paragraph)."""
    document = DocxDocument()
    document.add_paragraph("seed")
    document.save(path)
    with zipfile.ZipFile(path) as zipped:
        parts = {n: zipped.read(n) for n in zipped.namelist()}
    paragraph = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>"
    body = paragraph * (unpacked_mb * 2**20 // len(paragraph))
    xml = parts["word/document.xml"]
    parts["word/document.xml"] = xml.replace(b"<w:body>", b"<w:body>" + body, 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in parts.items():
            zipped.writestr(name, data)


def _deep_html(path) -> None:
    path.write_text("<div>" * 1_000 + "deep" + "</div>" * 1_000)  # under the element limit


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("bomb.docx", lambda p: _docx_bomb(p, 64), "MB, over the 8 MB limit (RAG_MAX_TEXT_MB)"),
        ("pages.pdf", lambda p: make_pdf(p, ["A page."] * 60), "60 pages are over the 50 page"),
        ("zero.txt", lambda p: p.symlink_to("/dev/zero"), "not a regular file"),  # endless
        ("pipe.txt", os.mkfifo, "not a regular file"),  # would block the whole ingest
        ("sparse.txt", lambda p: os.truncate(_touch(p), 2**30), "MB limit (RAG_MAX_FILE_MB)"),
        ("deep.html", _deep_html, "HTML nested too deeply to read"),
        ("many.html", lambda p: p.write_text("<p>w</p>" * 2_001), "2001 HTML elements are over"),
        ("wide.html", lambda p: p.write_text("<p>w</p>" * 2_001, "utf-16"), "element limit"),
        ("huge.txt", lambda p: p.write_text("word " * 2_000_000), "text is over the 8 MB limit"),
    ],
)
def test_hostile_files_are_rejected_fast_and_the_batch_goes_on(tmp_path, name, make, reason):
    """A zip bomb, a PDF of many pages, an endless device, a sparse giant, a page nested deep
    enough to exhaust recursion, pages of too many elements (in any encoding): each rejected
    with its reason, within seconds."""
    make(tmp_path / name)
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    started = time.monotonic()
    limits = {"max_text_chars": 8 * 2**20, "max_pdf_pages": 50, "max_html_elements": 2_000}
    documents, rejected = _load(tmp_path, **limits)
    assert time.monotonic() - started < 10
    assert list(documents) == ["good.txt"]
    assert reason in rejected["zero" if name == "zero.txt" else name]  # the link's target


def _touch(path):
    path.touch()
    return path


def test_a_pdf_parser_that_gives_up_rejects_that_file_only(tmp_path, monkeypatch):
    import pypdf

    def exhausted(*args, **kwargs):
        raise pypdf.errors.LimitReachedError("decompression limit")

    make_pdf(tmp_path / "a.pdf", ["Ferries run daily."])
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    monkeypatch.setattr(pypdf.PdfReader, "__init__", exhausted)
    documents, rejected = _load(tmp_path)
    assert list(documents) == ["good.txt"]
    assert "malformed PDF (LimitReachedError" in rejected["a.pdf"]


def test_very_long_lines_load(tmp_path):
    (tmp_path / "long.txt").write_text("Title\n" + "word " * 200_000)
    documents, rejected = _load(tmp_path)
    assert rejected == {} and len(documents["long.txt"].text) > 1_000_000


def test_unsupported_missing_and_glob_paths(tmp_path):
    (tmp_path / "data.rtf").write_text("{\\rtf1 a}\n", encoding="utf-8")
    (tmp_path / "x.md").write_text("# X\n")
    (tmp_path / "y.md").write_text("# Y\n")
    files, rejected = collect_files(
        [tmp_path / "data.rtf", tmp_path / "nope.txt", f"{tmp_path}/*.md", f"{tmp_path}/*.odt"]
    )
    assert [f.name for f in files] == ["x.md", "y.md"]
    reasons = {r.path.rsplit("/", 1)[-1]: r.reason for r in rejected}
    assert "unsupported file type" in reasons["data.rtf"]
    assert reasons["nope.txt"] == "no such file or folder"
    assert reasons["*.odt"] == "no file matches this pattern"


def test_a_symlink_loop_does_not_hang_the_walk(tmp_path):
    (tmp_path / "a.txt").write_text("x y z\n", encoding="utf-8")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "image.bmp").write_bytes(b"BM")
    files, rejected = collect_files([tmp_path, tmp_path / "a.txt"])
    assert [f.name for f in files] == ["a.txt"]
    assert rejected == []


def test_an_unreadable_file_is_rejected(tmp_path):
    """Read by a forked child that drops to `nobody` when the suite runs as root (root reads
    anything). Forked with everything it needs imported: a new interpreter as `nobody` could
    not start from a checkout only root may enter (a mktemp -d folder, root's home)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden\n")
    secret.chmod(0)
    (tmp_path / "open.txt").write_text("open\n")
    assert len(load_documents([tmp_path / "open.txt"])[0]) == 1  # imports what reading needs
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's coverage is not collected)
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.write(write, load_documents([secret])[1][0].reason.encode())
        except BaseException as err:  # the parent's assertion shows what went wrong
            os.write(write, repr(err).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        reason = pipe.read()
    os.waitpid(child, 0)
    assert "Permission denied" in reason


_SUFFIXES = st.sampled_from([*SUPPORTED_SUFFIXES, ".csv", ".bin", ""])
_CONTENT = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=500).map(lambda t: t.encode("utf-16")),
    st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04", b"<html><body>", b"\xef\xbb\xbf"]).flatmap(
        lambda head: st.binary(max_size=500).map(lambda tail: head + tail)
    ),
)


@pytest.mark.slow
@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=_CONTENT, suffix=_SUFFIXES)
def test_fuzz_every_file_is_loaded_or_rejected_with_a_reason(tmp_path, content, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    files, rejected = collect_files([path])
    documents, unreadable = load_documents(files)
    outcomes = [d.metadata["file_path"] for d in documents] + [
        r.path for r in rejected + unreadable
    ]
    assert len(outcomes) == 1
    assert all(r.reason for r in rejected + unreadable)
    for document in documents:
        assert document.text.strip()
        assert document.text == read_source_text(path)


def test_cyrillic_in_a_single_byte_code_page_is_not_read_as_latin(tmp_path):
    text = "Привет, мир. Это тестовый документ о переговорах в Москве.\n"
    (tmp_path / "ru.txt").write_bytes(text.encode("cp1251"))
    documents, rejected = _load(tmp_path)
    assert rejected == {}
    assert "переговорах" in documents["ru.txt"].text
