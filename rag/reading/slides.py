"""Slide decks (PPTX) as text: each slide under a heading with its number and title, its
text frames' paragraphs (bullets as list items), tables, and speaker notes; a slide's
locator is "slide N"."""

from __future__ import annotations

from typing import Any

from rag.reading.written import Written, one_line


def pptx_to_text(presentation: Any) -> Written:
    written = Written(title=one_line(presentation.core_properties.title or ""))
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = one_line(title_shape.text_frame.text) if title_shape is not None else ""
        if not written.title and title:
            written.title = title
        written.mark(f"slide {number}")
        written.add(f"# Slide {number}" + (f": {title}" if title else ""))
        title_id = title_shape.shape_id if title_shape is not None else None
        for shape in slide.shapes:
            if shape.shape_id == title_id:  # python-pptx makes a new proxy per access
                continue
            if shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    text = one_line("".join(run.text for run in paragraph.runs))
                    written.add(("- " if paragraph.level > 0 else "") + text if text else "")
            elif shape.has_table:
                rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                labels = [f"slide {number}"] * len(rows[1:])
                written.add_table(rows[1:], rows[0], labels)
        if slide.has_notes_slide:
            notes = one_line(slide.notes_slide.notes_text_frame.text)
            written.add(f"Notes: {notes}" if notes else "")
    return written
