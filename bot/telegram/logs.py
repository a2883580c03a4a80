"""Keep the bot token out of every log line.

The token is part of every Bot API URL; httpx logs request URLs at INFO and python-telegram-bot
logs its base URL at DEBUG. Records are redacted as they are made, so no handler, formatter or
log level can let the token through, and exception texts are redacted the same way.
"""

from __future__ import annotations

import logging
from typing import Any

_MASK = "[bot-token]"


def install_redaction(*secrets: str) -> None:
    """Redact ``secrets`` from every log record made from now on, in this process."""
    wanted = [s for s in secrets if s]
    if not wanted:
        return
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        if any(s in message for s in wanted):
            for secret in wanted:
                message = message.replace(secret, _MASK)
            record.msg, record.args = message, ()
        if record.exc_info:
            text = formatter.formatException(record.exc_info)
            for secret in wanted:
                text = text.replace(secret, _MASK)
            record.exc_text = text
        return record

    logging.setLogRecordFactory(factory)
    logging.getLogger("httpx").setLevel(logging.WARNING)
