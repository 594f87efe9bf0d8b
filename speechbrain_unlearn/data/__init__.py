"""Data: embedded corpora, manifests of the real layouts, forget/retain splits."""
