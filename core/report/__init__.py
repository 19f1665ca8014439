"""Render a run for people: Markdown and JSON files (HTML and Slack blocks come later)."""

from .writer import render_markdown, write_reports

__all__ = ["render_markdown", "write_reports"]
