"""Presentation: the run report, Markdown cutting, step graphs."""
