"""The reader: a model that scores how well a candidate sentence answers a question.

Trained on SQuAD 2.0's training split (`python -m rag.reader.train`), shipped as its
weights in `reader.json` (checked by sha256 when loaded), described in MODEL_CARD.md.
"""
