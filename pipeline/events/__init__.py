"""Behaviour events: one detector module per behaviour, all over one ``Track``."""
