"""Secrets at rest: broker access tokens are stored encrypted (Fernet: AES + HMAC).

The key comes from ``POCKETDESK_SECRET_KEY`` (a Fernet key), or from a key file beside the
database, created with mode 0600 on first run. Losing the key only means logging in again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.domain.errors import ConfigError

ENV_KEY = "POCKETDESK_SECRET_KEY"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ConfigError(
                f"{ENV_KEY} (or the key file) is not a valid key; make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                ".decode())'`"
            ) from None

    @classmethod
    def load(cls, key_file: Path, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The key from the environment, else from ``key_file`` (created 0600 if missing)."""
        env = os.environ if environ is None else environ
        if env.get(ENV_KEY):
            return cls(env[ENV_KEY].encode())
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(Fernet.generate_key())
        return cls(key_file.read_bytes().strip())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The secret, or None when it was sealed with another key."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
