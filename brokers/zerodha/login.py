"""Kite's login redirect: the ``request_token`` in the address the browser lands on.

After the login page, Kite redirects to the app's address with ``?status=success&request_token=…``
(plus the ``redirect_params`` the link carried). The user may paste that address into the chat,
or the redirect receiver hands it over; either way this reads the token out of it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from core.domain.errors import UserError


def request_token_from(response: str) -> str:
    """The request token in what the user pasted: the redirect address, or the bare token."""
    text = response.strip()
    if "://" in text or "?" in text:
        query = parse_qs(urlsplit(text).query)
        status = query.get("status", ["success"])[0]
        if status != "success":
            raise UserError(f"the broker says the login did not succeed (status={status})")
        tokens = query.get("request_token")
        if not tokens or not tokens[0]:
            raise UserError("that address has no request_token; paste the one you landed on")
        return tokens[0]
    if not text.isalnum():
        raise UserError("that is not a request token; paste the address you landed on")
    return text
