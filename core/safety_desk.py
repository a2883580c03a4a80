"""What ``/halt``, ``/resume``, ``/panic`` and ``/audit`` ask of the desk.

``Desk`` hands this out as ``desk.safety()``; the panic's two confirmations are ordinary
confirmations, decided by ``Desk.confirm`` like any other ticket.
"""

from __future__ import annotations

from core.access.audit import AuditEntry, AuditLog
from core.confirmations import ActionKind, ConfirmationService
from core.results import Ticket
from core.safety import KillSwitch, Panic
from core.storage.halts import HaltRow


class SafetyDesk:
    def __init__(
        self,
        audit: AuditLog,
        switch: KillSwitch,
        panic: Panic,
        confirmations: ConfirmationService,
    ) -> None:
        self.audit = audit
        self.switch = switch
        self.panic = panic
        self.confirmations = confirmations

    async def record(self, user_id: int | None, action: str, detail: str) -> None:
        await self.audit.record(user_id, action, detail)

    async def audit_entries(self, limit: int) -> list[AuditEntry]:
        return await self.audit.recent(limit)

    async def halt(self, user_id: int, account: str | None) -> list[str]:
        """Stop new entries on one account or on every account (exits keep working)."""
        return await self.switch.halt(account, user_id, f"/halt by {user_id}")

    async def resume(self, user_id: int, account: str | None) -> list[str]:
        return await self.switch.resume(account, user_id)

    def halted(self) -> list[HaltRow]:
        return self.switch.halted()

    async def panic_ticket(self, user_id: int, chat_id: int, *, armed: bool = False) -> Ticket:
        """One of /panic's two confirmations (the second once ``armed``), with what it would do."""
        plan = await self.panic.plan()
        kind = ActionKind.PANIC if armed else ActionKind.PANIC_ARM
        confirmation = await self.confirmations.create(user_id, chat_id, kind, {})
        return Ticket(confirmation=confirmation, kind=kind, panic=plan)
