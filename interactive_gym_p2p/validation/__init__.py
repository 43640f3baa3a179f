"""Validation exports: schema, upload tokens, storage, cross-player comparison, researcher access."""
