"""Test-wide settings: loopback only, and python-telegram-bot's durations as timedeltas."""

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
