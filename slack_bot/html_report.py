"""The core writes a run's report as Markdown; the bot uploads it rendered as a standalone HTML
page too (markdown-it-py, tables on, raw HTML off so a prompt cannot inject markup)."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

STYLE = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1c1d;
       max-width: 960px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
th { background: #f6f6f6; }
tr:nth-child(even) td { background: #fbfbfb; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
pre { background: #f6f8fa; padding: 10px 14px; border-radius: 6px; overflow-x: auto; }
pre code { background: none; padding: 0; }
em { color: #555; }
"""


def markdown_to_html(markdown: str, title: str) -> str:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    body = md.render(markdown)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
            f"<body>\n{body}</body></html>\n")
