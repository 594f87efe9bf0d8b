"""Evaluation hooks: metrics on the original, reference and unlearned models, and reports."""
