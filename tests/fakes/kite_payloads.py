"""What the fake Kite server answers with: instruments, prices and payloads written to the
documented shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

JSON = dict[str, Any]
IST = timezone(timedelta(hours=5, minutes=30))
TOKEN_ERROR = "Incorrect `api_key` or `access_token`."
INSTRUMENTS_CSV = """\
instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
408065,1594,INFY,INFOSYS,0.0,,0.0,0.05,1,EQ,NSE,NSE
738561,2885,RELIANCE,RELIANCE INDUSTRIES,0.0,,0.0,0.1,1,EQ,NSE,NSE
779521,3045,SBIN,STATE BANK OF INDIA,0.0,,0.0,0.05,1,EQ,NSE,NSE
128083204,500325,RELIANCE,RELIANCE INDUSTRIES,0.0,,0.0,0.05,1,EQ,BSE,BSE
12010754,46917,NIFTY26JAN24000CE,NIFTY,0.0,2026-01-27,24000.0,0.05,75,CE,NFO-OPT,NFO
256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE
"""
PRICES = {"NSE:INFY": "1500.5", "NSE:RELIANCE": "2900", "NSE:SBIN": "800.05"}
TOKENS = {"NSE:INFY": 408065, "NSE:RELIANCE": 738561, "NSE:SBIN": 779521}
_REQUIRED = ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type")
_PROTECTED = ("MARKET", "SL-M")
_ACCEPTED_PATH = ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING")
MAX_MODIFICATIONS = 25
PROFILE: JSON = {
    "user_id": "AB1234", "user_name": "Fake Trader", "user_shortname": "Fake",
    "email": "fake@example.com", "user_type": "individual", "broker": "ZERODHA",
    "exchanges": ["NSE", "BSE", "NFO"], "products": ["CNC", "NRML", "MIS"],
    "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
}  # fmt: skip
EQUITY_MARGINS: JSON = {
    "enabled": True, "net": 99725.05,
    "available": {"adhoc_margin": 0, "cash": 100000.0, "opening_balance": 100000.0,
                  "live_balance": 99725.05, "collateral": 0, "intraday_payin": 0},
    "utilised": {"debits": 274.95, "exposure": 0, "m2m_realised": 0, "span": 0,
                 "option_premium": 0, "holding_sales": 0, "turnover": 0},
}  # fmt: skip
HOLDING: JSON = {
    "tradingsymbol": "INFY", "exchange": "NSE", "instrument_token": 408065, "isin": "INE009A01021",
    "product": "CNC", "quantity": 10, "t1_quantity": 0, "average_price": 1400.25,
    "last_price": 1500.5, "close_price": 1500.5, "pnl": 1002.5, "day_change": 0,
}  # fmt: skip


def now_ist() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def depth(price: float) -> JSON:
    return {
        "timestamp": now_ist(), "last_trade_time": now_ist(), "last_quantity": 5, "volume": 123456,
        "average_price": price, "buy_quantity": 1000, "sell_quantity": 1200, "oi": 0,
        "net_change": 0, "ohlc": {"open": price, "high": price, "low": price, "close": price},
        "depth": {
            "buy": [{"price": round(price - 0.05, 2), "quantity": 10, "orders": 2}],
            "sell": [{"price": round(price + 0.05, 2), "quantity": 12, "orders": 3}],
        },
    }  # fmt: skip


def position(exchange: str, symbol: str, product: str, book: JSON, last: Decimal) -> JSON:
    (bought, buy_value), (sold, sell_value) = book["buy"], book["sell"]
    quantity = bought - sold
    average = buy_value / bought if quantity > 0 else sell_value / sold if quantity else Decimal(0)
    realised = Decimal(0)
    if bought and sold:
        realised = min(bought, sold) * (sell_value / sold - buy_value / bought)
    return {
        "tradingsymbol": symbol, "exchange": exchange, "product": product, "quantity": quantity,
        "overnight_quantity": 0, "multiplier": 1, "average_price": float(round(average, 4)),
        "last_price": float(last), "realised": float(round(realised, 2)),
        "unrealised": float(round((last - average) * quantity, 2)),
        "buy_quantity": bought, "sell_quantity": sold,
        "buy_value": float(buy_value), "sell_value": float(sell_value),
    }  # fmt: skip
