"""The Slack front of prompt-tuner: ``/tune`` from a channel, progress and a scored report in the
thread, team review with buttons and a modal, all written back to the core's store.

The bot imports from ``core`` (the public API) only. Run it with ``prompt-tuner-slack``.
"""

from __future__ import annotations

__all__: list[str] = []
