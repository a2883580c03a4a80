"""Chat commands, independent of any front-end: ``parse`` a line, get a typed command."""

from bot.commands.parser import CommandError, parse
from bot.commands.types import (
    AccountsCommand,
    CancelCommand,
    Command,
    ExitCommand,
    HelpCommand,
    ModifyCommand,
    OrdersCommand,
    PlaceCommand,
    PositionsCommand,
    QuoteCommand,
    StatusCommand,
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
