"""Deletion-ready training: a convex deletable part on frozen core features, removed exactly and certified."""
