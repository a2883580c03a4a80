"""The optional login redirect receiver: where the broker's login page sends the browser.

A small aiohttp server on ``[login] redirect_listen`` answers GET ``redirect_path``. Kite adds
``request_token``, ``status`` and ``action`` to the redirect, plus the ``account`` and ``state``
that pocketdesk put in the login link's ``redirect_params``; core checks the state and finishes
the login. The answer is a plain page with no external resources that never repeats the token.
Access logging is off: the request line carries the request token.
"""

from __future__ import annotations

import logging
from html import escape

from aiohttp import web

from core.access.redirects import LoginRefused, RedirectLogins
from core.config import LoginConfig
from core.domain.errors import BrokerError, UserError

log = logging.getLogger(__name__)

_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_NEW_LINK = "Send /login in Telegram for a new login link."


class RedirectReceiver:
    """The web server; ``Service.start`` starts it with the loops, ``Service.stop`` ends it."""

    def __init__(self, config: LoginConfig, logins: RedirectLogins) -> None:
        self.config = config
        self.logins = logins
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int | None:
        """The port listened on (the real one when the configuration said 0); None if stopped."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Listen on ``redirect_listen``; raises ``OSError`` when the address is taken."""
        host, _, port = self.config.redirect_listen.rpartition(":")
        app = web.Application()
        app.router.add_get(self.config.redirect_path, self._redirected, allow_head=False)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host.strip("[]"), int(port)).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("login redirect receiver listening on %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _redirected(self, request: web.Request) -> web.Response:
        query = {key: request.query.getone(key) for key in request.query}
        token = query.get("request_token", "")
        try:
            done = await self.logins.finish(query, str(request.url), request.remote or "?")
        except LoginRefused:
            return _page(
                403,
                "Login link not valid",
                "This login link is unknown, already used or expired; nothing was changed. "
                + _NEW_LINK,
            )
        except UserError as exc:
            return _page(400, "Not logged in", f"{_hide(exc, token)}. {_NEW_LINK}")
        except BrokerError as exc:
            status = 502 if exc.retryable else 400
            text = f"The broker refused the login: {_hide(exc, token)}. {_NEW_LINK}"
            return _page(status, "Not logged in", text)
        except Exception:
            log.exception("finishing a login from the redirect failed")
            return _page(500, "Not logged in", f"Something went wrong on pocketdesk. {_NEW_LINK}")
        return _page(
            200,
            "Logged in",
            f"Logged in to {done.account} as {done.user_id}. You can close this tab.",
        )


def _hide(exc: Exception, token: str) -> str:
    """The error's text, with the request token blanked should the message carry it."""
    text = str(exc).rstrip(".") or type(exc).__name__
    return text.replace(token, "***") if token else text


def _page(status: int, title: str, text: str) -> web.Response:
    body = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pocketdesk: {escape(title)}</title></head>\n"
        f"<body><h1>{escape(title)}</h1>\n<p>{escape(text)}</p></body></html>\n"
    )
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS
    )
