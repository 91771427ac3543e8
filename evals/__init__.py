"""Evaluation of the engine on labelled question sets (format: shared/datasets/README.md)."""
