"""Answer synthesis: extractive (default) and the conversation helpers it needs."""
