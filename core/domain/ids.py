"""Client order ids: made by pocketdesk and stored before an order is sent."""

from __future__ import annotations

import re
import secrets

CLIENT_ORDER_ID_LENGTH = 18  # fits Kite's tag (20), FYERS orderTag (30) and IB orderRef


CLIENT_ORDER_ID_PREFIX = "pd"
_OWN_ID = re.compile(rf"^{CLIENT_ORDER_ID_PREFIX}[0-9a-f]{{{CLIENT_ORDER_ID_LENGTH - 2}}}$")


def new_client_order_id() -> str:
    """A random alphanumeric id, generated and stored before the order is sent."""
    return CLIENT_ORDER_ID_PREFIX + secrets.token_hex((CLIENT_ORDER_ID_LENGTH - 2) // 2)


def is_own_client_order_id(value: str) -> bool:
    """Whether an id has the shape of the ones ``new_client_order_id`` makes."""
    return bool(_OWN_ID.match(value))
