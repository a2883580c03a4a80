"""Typed configuration, read and checked once at start-up (the face: what others import)."""

from core.config.accounts import AccountConfig, validate_accounts
from core.config.loader import AppConfig, demo_config, load_config
from core.config.sections import (
    ConfirmationsConfig,
    ExitsConfig,
    LoggingConfig,
    LoginConfig,
    MonitorConfig,
    RiskConfig,
    ScheduleConfig,
    StorageConfig,
    SyncConfig,
    TelegramConfig,
)

__all__ = [
    "AccountConfig",
    "AppConfig",
    "ConfirmationsConfig",
    "ExitsConfig",
    "LoggingConfig",
    "LoginConfig",
    "MonitorConfig",
    "RiskConfig",
    "ScheduleConfig",
    "StorageConfig",
    "SyncConfig",
    "TelegramConfig",
    "demo_config",
    "load_config",
    "validate_accounts",
]
