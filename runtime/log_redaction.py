"""Keep secrets out of every log line: the configured tokens, ``token=`` query values and bearer headers.

uvicorn logs each WebSocket handshake with its query string (``"WebSocket /ws?token=…" [accepted]``),
and an error message may quote a URL or a header. The filter sits on the process's log handler, so
it sees every record whatever the logger, route or level, and rewrites the message before it is
written.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["REDACTED", "RedactSecrets", "redact"]

REDACTED = "[redacted]"
_QUERY_TOKEN = re.compile(r"(?i)([?&;]token=)[^&\s\"'#]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, ``token=`` value and bearer credential replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _QUERY_TOKEN.sub(rf"\g<1>{REDACTED}", text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """A handler filter that redacts each record's message (and its traceback text)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Redact these exact values as well as the patterns."""
        super().__init__()
        self.secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        message = record.getMessage()
        redacted = redact(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True
