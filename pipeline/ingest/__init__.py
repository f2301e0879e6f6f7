"""Ingest: readers per input format, validation rules, and the lake writer for landed files."""
