"""Evaluation and benchmark scripts (run through `python -m bot eval ...` and `python -m bot bench`)."""
