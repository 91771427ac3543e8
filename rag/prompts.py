"""Prompt and message templates, kept as text files in `rag/prompt_templates/`.

Read as package data (importlib.resources), so they ship in a wheel as in a checkout.
"""

from functools import cache
from importlib.resources import files


@cache
def load_prompt(name: str) -> str:
    """The template `rag/prompt_templates/NAME.txt`, without its trailing newline."""
    template = files("rag") / "prompt_templates" / f"{name}.txt"
    return template.read_text(encoding="utf-8").rstrip("\n")
