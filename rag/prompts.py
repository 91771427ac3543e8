"""Prompt and message templates, kept as text files in the top-level `prompts/` folder."""

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def load_prompt(name: str) -> str:
    """The template `prompts/NAME.txt`, without its trailing newline."""
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").rstrip("\n")
