"""Plain-JSON forms of domain values, for storage and confirmation payloads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.domain.models import (
    ExitSpec,
    InstrumentId,
    OrderRequest,
    OrderType,
    Product,
    Side,
    Validity,
)


def dec_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def exits_to_dict(exits: ExitSpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if exits.stop_loss is not None:
        data["sl"] = str(exits.stop_loss)
        data["sl_pct"] = exits.stop_loss_pct
    if exits.target is not None:
        data["tp"] = str(exits.target)
        data["tp_pct"] = exits.target_pct
    if exits.trail_pct is not None:
        data["trail_pct"] = str(exits.trail_pct)
    return data


def exits_from_dict(data: dict[str, Any]) -> ExitSpec:
    return ExitSpec(
        stop_loss=dec_or_none(data.get("sl")),
        stop_loss_pct=bool(data.get("sl_pct", False)),
        target=dec_or_none(data.get("tp")),
        target_pct=bool(data.get("tp_pct", False)),
        trail_pct=dec_or_none(data.get("trail_pct")),
    )


def request_to_dict(request: OrderRequest) -> dict[str, Any]:
    return {
        "account": request.account,
        "instrument": str(request.instrument),
        "side": request.side.value,
        "quantity": request.quantity,
        "order_type": request.order_type.value,
        "price": None if request.price is None else str(request.price),
        "trigger_price": None if request.trigger_price is None else str(request.trigger_price),
        "product": request.product.value,
        "validity": request.validity.value,
        "exits": exits_to_dict(request.exits),
    }


def request_from_dict(data: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        account=str(data["account"]),
        instrument=InstrumentId.parse(str(data["instrument"])),
        side=Side(data["side"]),
        quantity=int(data["quantity"]),
        order_type=OrderType(data["order_type"]),
        price=dec_or_none(data.get("price")),
        trigger_price=dec_or_none(data.get("trigger_price")),
        product=Product(data["product"]),
        validity=Validity(data["validity"]),
        exits=exits_from_dict(dict(data.get("exits") or {})),
    )
