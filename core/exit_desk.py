"""What a trader can do with exit rules (/sl, /tp, /trail, /exits), and keeping rules honest
against positions changed outside pocketdesk."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from core.autoexit import AutoExits
from core.domain.errors import UserError
from core.domain.exit_rules import (
    ExitRule,
    PositionKey,
    RuleKind,
    RuleSpec,
    RuleState,
    SpikeBuffer,
    check_sides,
    initial_trigger,
    position_changes,
)
from core.domain.models import InstrumentId, Position


class ExitDesk:
    def __init__(self, autoexits: AutoExits) -> None:
        self.auto = autoexits

    async def set_rule(
        self,
        account: str,
        instrument: InstrumentId,
        kind: RuleKind,
        value: Decimal,
        percent: bool,
        *,
        band_pct: Decimal | None = None,
        dwell_s: float | None = None,
    ) -> ExitRule:
        """Arm a rule on an open position, replacing an armed rule of the same kind.

        ``band_pct`` and ``dwell_s`` override the account's spike buffer for this rule.
        """
        auto = self.auto
        broker = auto.registry.get(account)
        position = await self._open_position(account, instrument)
        direction = 1 if position.quantity > 0 else -1
        quotes = await broker.fetch_quotes([instrument])
        last = quotes[instrument].last_price
        spec = RuleSpec(kind, value, percent)
        reference = last if kind is RuleKind.TRAILING else position.average_price
        details = await broker.fetch_instrument(instrument)
        trigger = details.round_price(initial_trigger(spec, direction, reference))
        problem = check_sides(spec, direction, trigger, last)
        if problem is not None:
            raise UserError(f"{problem}: it would fire at once. Nothing was changed.")
        async with auto.db.read() as tx:
            live = await auto.rules.live(tx, account, instrument, position.product)
        if any(r.kind is kind and r.state is RuleState.TRIGGERED for r in live):
            raise UserError(f"a {kind.label} exit of {instrument} is working; wait for it")
        rule = replace(
            auto.new_rule(account, instrument, position.product, kind, direction, trigger),
            quantity=abs(position.quantity),
            anchor=last if kind is RuleKind.TRAILING else None,
            trail_value=value if kind is RuleKind.TRAILING else None,
            trail_percent=percent,
        )
        base = rule.buffer
        rule = replace(
            rule,
            buffer=SpikeBuffer(
                base.band_pct if band_pct is None else band_pct,
                base.dwell_s if dwell_s is None else dwell_s,
            ),
        )
        async with auto.db.transaction() as tx:
            stored = await auto.rules.insert(tx, rule)
        await auto.reload(account, instrument)
        return stored

    async def _open_position(self, account: str, instrument: InstrumentId) -> Position:
        positions = [
            p
            for p in await self.auto.registry.get(account).fetch_positions()
            if p.instrument == instrument and not p.is_flat
        ]
        if not positions:
            raise UserError(
                f"no open position in {instrument} on {account}; "
                "to arm exits with a new order, add sl=/tp=/trail= to /buy or /sell"
            )
        if len(positions) > 1:
            products = ", ".join(p.product.value for p in positions)
            raise UserError(f"{instrument} is held under several products ({products})")
        return positions[0]

    async def list_rules(
        self, account: str | None = None, instrument: InstrumentId | None = None
    ) -> list[ExitRule]:
        async with self.auto.db.read() as tx:
            return await self.auto.rules.live(tx, account, instrument)

    async def clear_rules(self, account: str, instrument: InstrumentId) -> int:
        """Disarm the armed rules of a position; the position itself stays open."""
        rules = [
            r for r in await self.list_rules(account, instrument) if r.state is RuleState.ARMED
        ]
        now = self.auto.clock.now()
        async with self.auto.db.transaction() as tx:
            for rule in rules:
                await self.auto.rules.set_state(tx, rule.id, RuleState.DONE, "cleared", now)
        await self.auto.reload(account, instrument)
        return len(rules)

    async def reconcile_positions(self, account: str) -> None:
        """Disarm or shrink rules whose position changed outside pocketdesk (with alerts)."""
        rules = [r for r in await self.list_rules(account) if r.state is RuleState.ARMED]
        if not rules:
            return
        positions = await self.auto.registry.get(account).fetch_positions()
        held: dict[PositionKey, int] = {}
        for p in positions:
            key = (account, p.instrument, p.product)
            held[key] = held.get(key, 0) + p.quantity
        busy = {
            (account, o.instrument, o.request.product)
            for o in await self.auto.tracker.in_flight(account)
        }
        changes = position_changes(rules, held, busy)
        closed = [rule for rule, quantity in changes if quantity == 0]
        if closed:
            await self.auto.disarm(closed, "the position was closed outside pocketdesk")
        shrunk = [(rule, quantity) for rule, quantity in changes if quantity > 0]
        if shrunk:
            now = self.auto.clock.now()
            async with self.auto.db.transaction() as tx:
                for rule, quantity in shrunk:
                    await self.auto.rules.set_quantity(tx, rule.id, quantity, now)
            for rule, _ in shrunk:
                await self.auto.reload(account, rule.instrument)
