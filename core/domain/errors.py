"""The error taxonomy: what went wrong, and whether anyone may try again.

A write (place, modify, cancel) ends in one of three ways besides success:

* ``OrderDenied``      - a local check failed; nothing was sent.
* ``BrokerRejected``   - the broker explicitly said no. Permanent for that request.
* ``OutcomeUnknown``   - the request may have reached the broker (timeout, disconnect, 5xx after
  sending). The order stays in flight and the sync loop settles it by its client order id.

Reads raise ``BrokerUnavailable`` (transient) or ``BrokerError`` subclasses; a failed query never
returns an empty result, which would read as "flat".
"""

from __future__ import annotations


class PocketdeskError(Exception):
    """Base of every error pocketdesk raises on purpose. ``str(err)`` is fit to show a user."""

    retryable: bool = False


class UserError(PocketdeskError):
    """The user asked for something that cannot be done; the message says why."""


class OrderDenied(UserError):
    """A local check refused the order; nothing was sent to the broker."""

    def __init__(self, reason: str, *, rule: str = "") -> None:
        super().__init__(reason)
        self.rule = rule


class ConfirmationError(UserError):
    """A confirmation is unknown, expired, already used, or not the presser's."""


class BrokerError(PocketdeskError):
    """The broker could not do what was asked."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class BrokerRejected(BrokerError):
    """The broker explicitly refused. Permanent: the same request will be refused again."""


class NotFound(BrokerRejected):
    """The broker does not know the order, instrument or account asked about."""


class AuthenticationFailed(BrokerError):
    """The session is dead (expired token, bad key): log in again; never retry blindly."""


class BrokerUnavailable(BrokerError):
    """Transient, and certainly not applied: connection refused, rate limited before processing."""

    retryable = True


class OutcomeUnknown(BrokerError):
    """Transient, and maybe applied: the request may have reached the broker.

    Never retried blindly: search the broker's order book for the client order id first.
    """

    retryable = True


class IllegalTransition(PocketdeskError):
    """An order state change the state machine does not allow; nothing was changed."""


class ConfigError(PocketdeskError):
    """The configuration is wrong; the message names the key and the fix."""
