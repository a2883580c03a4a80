"""Chat commands, independent of any front-end: ``parse`` a line, get a typed command."""

from bot.commands.parser import (
    AccountsCommand,
    CancelCommand,
    Command,
    CommandError,
    ExitCommand,
    HelpCommand,
    ModifyCommand,
    OrdersCommand,
    PlaceCommand,
    PositionsCommand,
    QuoteCommand,
    StatusCommand,
    parse,
)
from bot.commands.usage import COMMANDS, CommandSpec, help_text

__all__ = [
    "COMMANDS",
    "AccountsCommand",
    "CancelCommand",
    "Command",
    "CommandError",
    "CommandSpec",
    "ExitCommand",
    "HelpCommand",
    "ModifyCommand",
    "OrdersCommand",
    "PlaceCommand",
    "PositionsCommand",
    "QuoteCommand",
    "StatusCommand",
    "help_text",
    "parse",
]
