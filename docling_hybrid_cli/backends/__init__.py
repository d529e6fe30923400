"""Backends that turn a rendered page image into page Markdown."""
