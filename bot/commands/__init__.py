"""Chat commands, independent of any front-end: ``parse`` a line, get a typed command."""

from bot.commands.parser import parse
from bot.commands.types import (
    AccountsCommand,
    CancelCommand,
    Command,
    ExitCommand,
    ExitsCommand,
    HelpCommand,
    LoginCommand,
    ModifyCommand,
    OrdersCommand,
    PlaceCommand,
    PositionsCommand,
    QuoteCommand,
    StatusCommand,
    StopLossCommand,
    TargetCommand,
    TrailCommand,
)
from bot.commands.usage import COMMANDS, CommandSpec, help_text
from bot.commands.values import CommandError

__all__ = [
    "COMMANDS",
    "AccountsCommand",
    "CancelCommand",
    "Command",
    "CommandError",
    "CommandSpec",
    "ExitCommand",
    "ExitsCommand",
    "HelpCommand",
    "LoginCommand",
    "ModifyCommand",
    "OrdersCommand",
    "PlaceCommand",
    "PositionsCommand",
    "QuoteCommand",
    "StatusCommand",
    "StopLossCommand",
    "TargetCommand",
    "TrailCommand",
    "help_text",
    "parse",
]
