"""`FernetSealer`: secret tool arguments kept in the run record only as ciphertext.

A run record is a file (SQLite) or rows (PostgreSQL) that backups, replicas and debugging
sessions copy around; a secret in it is a secret leaked. The hooks surface redacts secret
parameters before any record is written; give the agent a sealer with a key the operator holds
(a secret manager, an environment variable read at the edge) and the journal also keeps the
values encrypted (Fernet: AES-128-CBC with an HMAC-SHA-256 tag), so a resumed run can still
repeat an interrupted call. Without the key nothing in the record reveals them.
"""

from __future__ import annotations

from typing import Any

from mainspring.errors import ConfigurationError, MissingExtraError


def _fernet() -> Any:
    try:
        from cryptography import fernet
    except ImportError:
        raise MissingExtraError("FernetSealer", "secrets") from None
    return fernet


class FernetSealer:
    """Seals with a Fernet key: 32 url-safe base64-encoded bytes (`FernetSealer.new_key()`)."""

    def __init__(self, key: bytes | str) -> None:
        fernet = _fernet()
        try:
            self._fernet = fernet.Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"the sealer key is not a Fernet key ({exc}); make one with "
                "FernetSealer.new_key() and keep it where the operator keeps secrets"
            ) from None

    @staticmethod
    def new_key() -> bytes:
        """A fresh random key."""
        key: bytes = _fernet().Fernet.generate_key()
        return key

    def seal(self, data: bytes) -> str:
        """The data encrypted and authenticated, as text."""
        token: bytes = self._fernet.encrypt(data)
        return token.decode("ascii")

    def unseal(self, token: str) -> bytes:
        """The data back; `ValueError` when the key is wrong or the token was altered."""
        try:
            data: bytes = self._fernet.decrypt(token.encode("ascii"))
        except Exception as exc:
            raise ValueError("the sealed value cannot be opened with this key") from exc
        return data
