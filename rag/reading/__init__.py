"""Reading documents as people keep them: blocks, sections and sentences with exact spans.

A file is read into blocks (paragraphs, headings, list items, table rows, code) by its
format's grammar; blocks become units (sentences, or whole code blocks and rows), each with
the section path of the headings above it. Every span indexes the text citations point into.
"""
