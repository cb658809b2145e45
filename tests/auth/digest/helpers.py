"""A Digest client written from RFC 7616 with hashlib, for tests that need to control every field; and seeding of
organizations and API keys straight into the database."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from atlas_sa.api_keys.service import create_api_key
from atlas_sa.audit.recording import CLI, EventRecorder
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.ids import new_object_id
from atlas_sa.models import Organization

REALM = "MMS Public API"
# Atlas's challenge, byte for byte apart from the nonce.
ATLAS_CHALLENGE_RE = re.compile(
    r'^Digest realm="MMS Public API", domain="", nonce="(?P<nonce>[A-Za-z0-9_-]+)", '
    r'algorithm=(?P<algorithm>MD5|SHA-256), qop="auth", stale=(?P<stale>true|false)$'
)
_HASH_NAMES = {"MD5": "md5", "SHA-256": "sha256"}


def parse_challenge(header: str) -> dict[str, str]:
    match = ATLAS_CHALLENGE_RE.match(header)
    assert match is not None, header
    return match.groupdict()


@dataclass
class DigestFields:
    username: str
    password: str
    nonce: str
    uri: str
    method: str = "GET"
    algorithm: str = "MD5"
    nc: str = "00000001"
    cnonce: str = ""
    realm: str = REALM
    qop: str = "auth"

    def response(self) -> str:
        name = _HASH_NAMES[self.algorithm.removesuffix("-sess")]

        def h(text: str) -> str:
            return hashlib.new(name, text.encode(), usedforsecurity=False).hexdigest()

        ha1 = h(f"{self.username}:{self.realm}:{self.password}")
        if self.algorithm.endswith("-sess"):
            ha1 = h(f"{ha1}:{self.nonce}:{self.cnonce}")
        ha2 = h(f"{self.method}:{self.uri}")
        return h(f"{ha1}:{self.nonce}:{self.nc}:{self.cnonce}:{self.qop}:{ha2}")

    def params(self) -> dict[str, str]:
        return {
            "username": f'"{self.username}"',
            "realm": f'"{self.realm}"',
            "nonce": f'"{self.nonce}"',
            "uri": f'"{self.uri}"',
            "algorithm": self.algorithm,
            "response": f'"{self.response()}"',
            "qop": self.qop,
            "nc": self.nc,
            "cnonce": f'"{self.cnonce}"',
        }

    def header(self, **overrides: str | None) -> str:
        """The Authorization value; an override replaces a param's raw text, ``None`` drops the param."""
        if not self.cnonce:
            self.cnonce = secrets.token_hex(8)
        params: dict[str, str | None] = {**self.params(), **overrides}
        return "Digest " + ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)


async def seed_org(db: Database, clock: Clock, name: str = "acme") -> str:
    async with db.unit_of_work() as session:
        org = Organization(
            id=new_object_id(clock.now().timestamp()),
            name=name,
            created_at=clock.now(),
            api_access_list_required=False,
            max_secret_validity_hours=8760,
        )
        session.add(org)
    return org.id


async def seed_api_key(
    db: Database, keys: ServerKeys, clock: Clock, org_id: str, roles: tuple[str, ...] = ("ORG_OWNER",)
) -> tuple[str, str]:
    async with db.unit_of_work() as session:
        return await create_api_key(session, keys, clock, org_id, roles, "test key", EventRecorder(session, clock, CLI))
