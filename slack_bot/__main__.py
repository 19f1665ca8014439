"""``python -m slack_bot``: the same as ``prompt-tuner-slack``."""

import sys

from slack_bot.cli import main

sys.exit(main())
