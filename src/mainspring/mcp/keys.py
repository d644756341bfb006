"""Bearer keys for the MCP HTTP server, until the service's key store serves them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from mainspring.tools.base import Principal


class StaticKeyVerifier:
    """Keys given in settings or arguments, each mapped to a principal.

    Only SHA-256 digests are kept, and a presented key is compared against every one with
    `hmac.compare_digest`, so neither the key nor its position leaks through timing.
    """

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self._digests = [(hashlib.sha256(k.encode()).digest(), p) for k, p in keys.items()]

    async def verify(self, key: str) -> Principal | None:
        """The principal for `key`, or None."""
        digest = hashlib.sha256(key.encode()).digest()
        found: Principal | None = None
        for known, principal in self._digests:
            if hmac.compare_digest(known, digest):
                found = principal
        return found
