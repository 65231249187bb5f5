"""API keys: a public id plus a secret; only a hash of the secret is stored.

A token looks like `bsk_<id>_<secret>`; the secret has 256 bits of entropy, so a plain SHA-256
(not a slow password hash) is the right tool, and it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..domain.errors import BackstopError
from ..store.base import KeyRecord, Store
from .errors import Unauthorized

ROLES = ("admin", "risk", "staker", "investor", "guarantor", "assessor", "oracle")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(role: str, account: str | None) -> tuple[str, KeyRecord]:
    if role not in ROLES:
        raise BackstopError("role", f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"bsk_{key_id}_{secret}", KeyRecord(key_id, _hash(secret), role, account)


def parse_token(token: str) -> tuple[str, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "bsk" or not parts[1] or not parts[2]:
        raise Unauthorized("authorization", "authorization: malformed API key")
    return parts[1], parts[2]


def verify(record: KeyRecord | None, secret: str) -> KeyRecord:
    if record is None or not hmac.compare_digest(record.secret_hash, _hash(secret)):
        raise Unauthorized("authorization", "authorization: unknown or wrong API key")
    return record


class KeyCache:
    """Key records by id, read from the store on first use.

    Keys are immutable records and are never revoked in place, so a hit is cached for the life
    of the process (no database read per request); a miss is not, so a key made later with
    `backstop keys create` is found on its first use.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._records: dict[str, KeyRecord] = {}

    def cached(self, token: str) -> KeyRecord | None:
        """The key a bearer token belongs to if its record is cached (Unauthorized if the token is
        malformed or its secret wrong), None if the record must be read from the store."""
        key_id, secret = parse_token(token)
        record = self._records.get(key_id)
        return None if record is None else verify(record, secret)

    def get(self, key_id: str) -> KeyRecord | None:
        record = self._records.get(key_id)
        if record is None:
            record = self.store.get_key(key_id)
            if record is not None:
                self._records[key_id] = record
        return record

    def authenticate(self, token: str) -> KeyRecord:
        """The key a bearer token belongs to, or Unauthorized."""
        key_id, secret = parse_token(token)
        return verify(self.get(key_id), secret)
