"""The `rag` command: ingest, ask, chat, docs, serve, eval.

Data goes to stdout, messages and progress to stderr. Exit codes: 0 done, 1 a problem the
message explains (no index, empty question, bad file...), 2 wrong usage.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rag.config import MAX_TOP_K, Settings
from rag.engine import MAX_HISTORY_TURNS, IngestReport, RagEngine
from rag.errors import RagError, StoreUnavailableError
from rag.types import Answer, Citation


def _settings_help() -> str:
    """Every setting as `RAG_NAME (default): description`, for `rag --help`."""
    lines = [
        f"RAG_{name.upper()} ({field.default}): {field.description}"
        for name, field in Settings.model_fields.items()
    ]
    return "Settings (environment variables, or the same names in rag.toml):\n\n" + "\n\n".join(
        lines
    )


# At exit, the garbage collector's last passes would visit every object of the ~2,000
# modules a command imports: ~0.5 s of a cold `rag ask`, for memory the OS takes back
# anyway. Frozen objects are skipped; atexit handlers and buffered output run as usual.
atexit.register(gc.freeze)

app = typer.Typer(
    help="Ask questions about your documents; every answer cites the sentences it comes from.",
    epilog=_settings_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = typer.echo


def _engine(ctx: typer.Context) -> RagEngine:
    return ctx.obj


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the index lives (default: RAG_DATA_DIR, data/).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Offline, citation-first question answering over your own documents."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings = Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as error:  # RAG_* variables or rag.toml: one line each, no traceback
        for problem in error.errors():
            name = "RAG_" + "_".join(str(p) for p in problem["loc"]).upper()
            where = f"{name}: " if problem["loc"] else ""
            err(f"Error: {where}{problem['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(code=2) from error
    ctx.obj = RagEngine(settings)


def _fail(error: RagError) -> typer.Exit:
    err(f"Error: {error}", err=True)
    return typer.Exit(code=1)


# Metadata filters (rag.filters): `--filter KEY=VALUE` on ask and chat.
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        metavar="KEY=VALUE",
        help="Search only documents whose metadata match KEY=VALUE (or KEY!=VALUE); keys: "
        "file_name, file_path, title, date. Repeat it: different keys must all match, one key "
        "given twice matches either value.",
    ),
]


def _filters(specs: list[str] | None):
    """The parsed `--filter` options (None: no filter); rag.filters is imported only if used."""
    if not specs:
        return None
    from rag.filters import parse_filters

    return parse_filters(specs, resolve_paths=True)


_BOLD, _PLAIN = "\033[1m", "\033[0m"


def render(answer: Answer, text_shown: bool = False, bold: bool = False) -> str:
    """An answer for the terminal: the text, the searched query if rewritten, the sources.

    `text_shown`: the text was already streamed; only what follows it is rendered.
    `bold`: the answer phrase in bold (a terminal that reads escape codes).
    """
    lines = [] if text_shown else [_emphasised(answer) if bold else answer.text]
    lines.append("")
    if answer.query_rewritten and not text_shown:
        lines.insert(0, f"(searched for: {answer.query})")
    if answer.notice:
        lines.insert(0, f"Note: {answer.notice}")
    if answer.dropped:
        reasons = "; ".join(sorted({d.reason for d in answer.dropped}))
        lines.insert(
            -1, f"({len(answer.dropped)} sentence(s) removed by the citation check: {reasons})"
        )
    if answer.refused and answer.retrieved:
        lines.append("Related passages (not an answer):")
        lines += [f"  - {Path(p.source).name}: {p.text[:160]}…" for p in answer.retrieved[:3]]
    elif not answer.refused:
        lines.append("Sources:")
        lines += [
            f"  [{c.n}] {Path(c.source).name} ({_where(c)}): {c.quote}" for c in answer.citations
        ]
    return "\n".join(lines)


def _where(c: Citation) -> str:
    """The quote's place: its character span, and the page, slide, row or chapter."""
    return f"chars {c.start}-{c.end}" + (f", {c.place}" if c.place else "")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders (default: RAG_CORPUS_DIR, `seeds/`)."),
    ] = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also remove the documents of files under these folders that are gone."
        ),
    ] = False,
) -> None:
    """Index files, folders or globs (text, Markdown, HTML, PDF, Office, e-books, e-mail,
    scans); unchanged ones are skipped."""
    engine = _engine(ctx)
    write = engine.sync if sync else engine.ingest
    try:
        report = write(paths or [engine.settings.corpus_dir], show_progress=True)
    except RagError as error:
        raise _fail(error) from error
    _print_report(report)
    if not report.outcomes and not (sync and engine.has_index()):
        raise typer.Exit(code=1)


def _print_report(report: IngestReport) -> None:
    for source, outcome in report.outcomes.items():
        err(f"{outcome:>9}  {source}", err=True)
    for rejection in report.rejected:
        err(f" rejected  {rejection.path}: {rejection.reason}", err=True)
    err(report.summary(), err=True)


@app.command()
def watch(
    ctx: typer.Context,
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders to keep in sync (default: RAG_CORPUS_DIR, `seeds/`)."),
    ] = None,
) -> None:
    """Keep the index in sync with folders: add, replace and remove documents as their files
    appear, change and disappear (Ctrl-C stops)."""
    from rag.watch import FolderWatcher

    engine = _engine(ctx)
    try:
        watcher = FolderWatcher(engine, folders or [engine.settings.corpus_dir], _print_report)
    except RagError as error:
        raise _fail(error) from error
    err(f"Watching {', '.join(map(str, watcher.folders))} (Ctrl-C stops)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        watcher.run()


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print Answer.to_dict() as JSON.")
    ] = False,
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=MAX_TOP_K, help="Passages to retrieve.")
    ] = None,
    stream: Annotated[
        bool,
        typer.Option("--stream", help="Show an LLM answer's verified sentences as they come."),
    ] = False,
    filter_specs: FilterOption = None,
) -> None:
    """Answer one question from the indexed documents, with citations."""
    try:
        filters = _filters(filter_specs)
        if stream and not as_json:
            _stream(_engine(ctx), question, [], k, filters)
            return
        answer = _engine(ctx).ask(question, k=k, filters=filters)
    except RagError as error:
        raise _fail(error) from error
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        typer.echo(render(answer, bold=sys.stdout.isatty()))


def _emphasised(answer: Answer) -> str:
    """The answer text with its answer phrase, where the text shows it, in bold."""
    span = answer.answer_span
    phrase = " ".join(span.text.split()) if span else ""
    at = answer.text.find(phrase) if phrase else -1
    if at < 0:
        return answer.text
    end = at + len(phrase)
    return f"{answer.text[:at]}{_BOLD}{phrase}{_PLAIN}{answer.text[end:]}"


def _stream(
    engine: RagEngine, question: str, history: list[str], k: int | None, filters=None
) -> Answer:
    """Print the answer's verified pieces as they come, then its sources; return it."""
    shown = ""
    for item in engine.ask_stream(question, history=history, k=k, filters=filters):
        if isinstance(item, Answer):
            answer = item
        else:
            shown += item
            typer.echo(item, nl=False)
            sys.stdout.flush()
    text_shown = bool(shown) and shown == answer.text
    if shown and not text_shown:  # fell back after a partial stream: the answer follows
        typer.echo("\n")
    typer.echo(("\n" if text_shown else "") + render(answer, text_shown))
    return answer


@app.command()
def chat(ctx: typer.Context, filter_specs: FilterOption = None) -> None:
    """Ask questions in a conversation; follow-ups use the earlier turns. Ctrl-D ends."""
    engine = _engine(ctx)
    try:
        filters = _filters(filter_specs)
    except RagError as error:
        raise _fail(error) from error
    history: list[str] = []
    while True:
        try:
            question = input("you> ")
        except EOFError:
            return
        if not question.strip():
            continue
        try:
            answer = _stream(engine, question, history[-MAX_HISTORY_TURNS:], None, filters)
        except RagError as error:
            err(f"Error: {error}", err=True)
            continue
        history.append(answer.query)
        typer.echo("")


docs_app = typer.Typer(help="List or delete indexed documents.", invoke_without_command=True)
app.add_typer(docs_app, name="docs")


@docs_app.callback()
def docs(ctx: typer.Context) -> None:
    """List the indexed documents (chunks, when ingested, path, title)."""
    if ctx.invoked_subcommand:
        return
    engine = _engine(ctx)
    try:
        engine.load_index()  # none yet: the error says how to build one
        documents = engine.documents()
    except RagError as error:
        raise _fail(error) from error
    for doc in documents:
        typer.echo(f"{doc.chunks:>5} chunks  {doc.ingested or '-':<25}  {doc.source}  {doc.title}")


@docs_app.command("show")
def show(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A path as `rag docs` lists it.")],
) -> None:
    """Print the text a document's citation offsets index (for HTML, PDF and DOCX, the
    text extracted from the file; for other files, the file's own text)."""
    try:
        text = _engine(ctx).document_text(source)
    except RagError as error:
        raise _fail(error) from error
    sys.stdout.write(text)


@docs_app.command("rm")
def remove(
    ctx: typer.Context,
    sources: Annotated[list[Path], typer.Argument(help="Paths as `rag docs` lists them.")],
) -> None:
    """Delete documents' chunks from the index (the files themselves are left alone)."""
    engine = _engine(ctx)
    for source in sources:
        try:
            removed = engine.delete(source)
        except RagError as error:
            raise _fail(error) from error
        err(f"deleted  {removed.source} ({removed.chunks} chunks)", err=True)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (RAG_UI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RAG_UI_PORT).")] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve on a non-loopback address without RAG_UI_AUTH: anyone who reaches "
            "the port can read, upload and delete every document.",
        ),
    ] = False,
    watch: Annotated[
        list[Path] | None,
        typer.Option(
            "--watch", help="A folder to keep in sync while serving (repeat for several)."
        ),
    ] = None,
) -> None:
    """Serve the chat UI in the browser."""
    from ui.app import build_app, launch_options
    from ui.guard import is_loopback

    engine = _engine(ctx)
    settings = engine.settings
    bound = host or settings.ui_host
    if not is_loopback(bound) and not settings.ui_auth and not insecure_no_auth:
        raise _fail(
            RagError(
                f"Serving on {bound} lets anyone who reaches it read, upload and delete every "
                "document. Set RAG_UI_AUTH=user:password (or a file of such lines), or pass "
                "--insecure-no-auth if that is what you want."
            )
        )
    try:
        if not engine.has_index():
            err("No index yet: run `rag ingest DOCS` or add documents in the UI.", err=True)
    except StoreUnavailableError as error:
        # Served anyway: each answer says the store is unavailable until it is back.
        err(f"Warning: {error}", err=True)
    except RagError as error:
        raise _fail(error) from error
    try:
        options = launch_options(engine, bound, insecure_no_auth)
    except RagError as error:
        raise _fail(error) from error
    port = port or settings.ui_port
    watched = _start_watching(engine, watch) if watch else []
    err(f"Serving the chat on http://{bound}:{port}", err=True)
    # show_error=False: a bug's exception text (paths, settings) stays in this terminal;
    # the UI's own messages (gr.Error) still reach the browser.
    build_app(engine, watched).launch(
        server_name=bound, server_port=port, show_error=False, **options
    )


def _start_watching(engine: RagEngine, folders: list[Path]) -> list[Path]:
    """A watcher thread syncing `folders` beside the server; the folders, resolved."""
    from rag.watch import FolderWatcher

    try:
        watcher = FolderWatcher(engine, folders, _print_report)
    except RagError as error:
        raise _fail(error) from error
    watcher.start()
    err(f"Watching {', '.join(map(str, watcher.folders))}", err=True)
    return watcher.folders


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The target store: pgvector.")],
) -> None:
    """Copy the FAISS index of the data dir into PostgreSQL (RAG_PG_URL), without re-embedding."""
    if to != "pgvector":
        raise typer.BadParameter(f"unknown store {to!r}: the one target is pgvector")
    started = time.perf_counter()
    try:
        chunks = _engine(ctx).migrate_to_pgvector()
    except RagError as error:
        raise _fail(error) from error
    err(
        f"Copied {chunks} chunks to PostgreSQL in {time.perf_counter() - started:.1f} s. "
        "Serve from it with RAG_STORE=pgvector.",
        err=True,
    )


@app.command(name="eval")
def evaluate(
    ctx: typer.Context,
    question_set: Annotated[Path, typer.Argument(help="A JSONL question set.", exists=True)],
    corpus: Annotated[
        Path | None,
        typer.Option(help="Index this folder (cached by content) instead of the current index."),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", min=1, max=MAX_TOP_K, help="Passages retrieved per question.")
    ] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default evals/results/<set>-<date>/).")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option(help="A previous report.json: adds deltas and flipped cases.")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Also score a baseline's retrieval: llamaindex-default.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary and records.")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
) -> None:
    """Run a question set: per-case pass/fail, a summary, and a report with plots."""
    from evals.baseline import BASELINES
    from evals.session import run_question_set

    if baseline is not None and baseline not in BASELINES:
        raise typer.BadParameter(f"unknown baseline {baseline!r}; choose from {BASELINES}")

    def show(record: dict) -> None:
        status = "PASS" if record["passed"] else "FAIL"
        typer.echo(f"{status}  {record['id']}: {record['answer']['text'][:100]}", err=as_json)

    try:
        result = run_question_set(
            question_set,
            _engine(ctx).settings,
            corpus=corpus,
            k=k,
            out_dir=out,
            compare=compare,
            baseline=baseline,
            limit=limit,
            on_record=show,
        )
    except RagError as error:
        raise _fail(error) from error
    summary = result.summary
    if as_json:
        typer.echo(json.dumps({"summary": summary, "records": result.records}, ensure_ascii=False))
    else:
        typer.echo(
            f"{summary['passed']}/{summary['cases']} passed (pass rate {summary['pass_rate']})"
            + (" [interrupted]" if summary["partial"] else "")
        )
    err(f"Report: {result.report_path}", err=True)


if __name__ == "__main__":
    app()
