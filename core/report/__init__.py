"""Render a run for people: Markdown, self-contained HTML with charts, JSON and CSV, from the store
(Slack blocks live with the bot)."""

from .formats import CSV_FIELDS, FORMATS, Format, render_run, run_csv, run_document
from .html import render_html
from .markdown import render_markdown_view
from .writer import write_reports

__all__ = ["CSV_FIELDS", "FORMATS", "Format", "render_html", "render_markdown_view",
           "render_run", "run_csv", "run_document", "write_reports"]
