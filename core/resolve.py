"""Which account a command means, and which instrument, when the user did not say.

``on=ACCOUNT`` decides outright. Otherwise an exchange-qualified symbol goes to the account
trading that exchange, and a bare symbol to the account that knows it on its default exchange
(so ``AAPL`` finds the US account and ``RELIANCE`` the Indian one). When more than one account
fits, the front-end asks which (``AmbiguousAccount`` carries the choices).
"""

from __future__ import annotations

from core.broker import Broker, BrokerRegistry
from core.domain.errors import BrokerError, UserError
from core.domain.models import InstrumentId


class AmbiguousAccount(UserError):
    """Several accounts fit; ``accounts`` lists them, for a picker."""

    def __init__(self, symbol: str, accounts: list[str]) -> None:
        super().__init__(f"{symbol} fits several accounts ({', '.join(accounts)}); add on=ACCOUNT")
        self.accounts = accounts


class AccountResolver:
    def __init__(self, registry: BrokerRegistry) -> None:
        self.registry = registry

    async def resolve(self, symbol: str, account: str | None) -> tuple[Broker, InstrumentId]:
        """The account and the full instrument id for a symbol as typed."""
        if account is not None:
            broker = self.registry.get(account)
            return broker, _parse(symbol, broker.default_exchange)
        brokers = [self.registry.get(name) for name in self.registry.names()]
        if not brokers:
            raise UserError("no accounts are configured")
        if len(brokers) == 1:
            return brokers[0], _parse(symbol, brokers[0].default_exchange)
        if ":" in symbol:
            instrument = _parse(symbol, None)
            fits = [b for b in brokers if b.default_exchange == instrument.exchange] or [
                b for b in brokers if instrument.exchange in b.capabilities.exchanges
            ]
            return self._one(symbol, [(b, instrument) for b in fits] or [(brokers[0], instrument)])
        known: list[tuple[Broker, InstrumentId]] = []
        for broker in brokers:
            candidate = _parse(symbol, broker.default_exchange)
            try:
                await broker.fetch_instrument(candidate)
            except BrokerError:
                continue
            known.append((broker, candidate))
        if not known:
            raise UserError(
                f"no account knows {symbol.upper()}; name the exchange, e.g. NSE:{symbol.upper()}"
            )
        return self._one(symbol, known)

    @staticmethod
    def _one(symbol: str, fits: list[tuple[Broker, InstrumentId]]) -> tuple[Broker, InstrumentId]:
        if len(fits) > 1:
            raise AmbiguousAccount(symbol.upper(), [b.account for b, _ in fits])
        return fits[0]


def _parse(symbol: str, default_exchange: str | None) -> InstrumentId:
    try:
        return InstrumentId.parse(symbol, default_exchange)
    except ValueError as exc:
        raise UserError(str(exc)) from None
