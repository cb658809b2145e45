"""HTTP Digest access authentication (RFC 7616) with programmatic API keys, as Atlas's ``MMS Public API`` realm does.

The username is the API key's public key and the password its private key. Digest needs the private key itself
(HA1 is a hash of it), so it is stored sealed with the server's encryption key, never in clear and never hashed.

**Challenge.** Atlas answers ``Digest realm="MMS Public API", domain="", nonce="…", algorithm=MD5, qop="auth",
stale=false`` and :meth:`DigestAuth.challenge` writes exactly that shape. Clients choose the algorithm from the
challenge, and most (curl, Python ``requests``, the Go SDK's digest transport) use the first Digest challenge they see,
so MD5 is the one challenge sent by default; :meth:`DigestAuth.challenges` gives the MD5 and SHA-256 forms for a server
that wants to offer both (RFC 7616 §3.7: one ``WWW-Authenticate`` header per challenge, the preferred one first).
Whatever was offered, a response computed with ``MD5``, ``MD5-sess``, ``SHA-256`` or ``SHA-256-sess`` is accepted.

**Nonces** are stateless, so every worker process verifies every other's: ``base64url(issued || random ||
HMAC-SHA256(nonce key, issued || random)[:16])``. The nonce key derives from the server's secret-hash key; a nonce
that fails its MAC was not made by this server (401, ``stale=false``). A nonce older than :data:`NONCE_TTL_SECONDS`
is stale: when the rest of the response is right, the answer is a fresh challenge with ``stale=true`` (§3.3), so
the client retries without asking for the key again.

**Replays.** Each process remembers, per nonce, the highest nonce count (``nc``) it accepted (a bounded LRU). A
request whose ``nc`` is not greater is a replay and is refused with ``stale=true``: a genuine client that raced two
requests on one nonce then simply takes a new one. When the table is full the least recently used nonce is
forgotten and every nonce issued no later than it is treated as stale from then on, so forgetting never reopens a
replay window. (Several worker processes each keep their own table; a replay sent to another worker within the
nonce's lifetime is the residual risk, bounded by the 5-minute expiry.)

Every comparison of secret-derived values is constant-time; nothing here logs a key or a digest.

One :class:`DigestAuth` per app holds the nonce key, the replay table and the unknown-key stand-in; ``create_app``
builds it once (:mod:`atlas_sa.auth.core`).

:meth:`DigestAuth.authenticate` is ``async`` and does its CPU work inline: parsing, the nonce MAC, unsealing the key
(AES-GCM) and two hash chains measure about 80 µs together, less than a hop to the thread pool would cost; the
one database lookup is what the request waits on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from atlas_sa.api_keys.repository import ApiKeyRepository
from atlas_sa.api_keys.service import API_KEY_CONTEXT
from atlas_sa.auth.bruteforce import BruteForceGuard
from atlas_sa.errors import Unauthorized
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.addresses import client_ip
from atlas_sa.kit.state import AppState
from atlas_sa.kit.text import admissible
from atlas_sa.kit.urls import local_target
from atlas_sa.models import ApiKey

log = logging.getLogger("atlas_sa.auth.digest")

REALM = "MMS Public API"
NONCE_TTL_SECONDS = 300
# A nonce dated this far in the future was issued before the clock was set back; treat it as stale, not forged.
_FUTURE_SKEW_SECONDS = 60
REPLAY_TABLE_SIZE = 100_000

_RANDOM_BYTES = 12
_MAC_BYTES = 16
_NONCE_BYTES = 8 + _RANDOM_BYTES + _MAC_BYTES
_HEADER_LIMIT = 4096
_NC_RE = re.compile(r"^[0-9a-fA-F]{8}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")

# hashlib names of the Digest algorithms. MD5 is what Atlas and its clients speak; it is not chosen here.
_HASHES = {"MD5": "md5", "SHA-256": "sha256"}
ALGORITHMS = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess")


# --- the Authorization header -----------------------------------------------------------------------------------

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_RE = re.compile(rf'\s*({_TCHARS})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TCHARS}))\s*(?:,|$)', re.DOTALL)


class DigestHeaderError(ValueError):
    """The ``Authorization`` header is not a well-formed Digest credential."""


def parse_authorization(header: str) -> dict[str, str]:
    """The auth-params of a ``Digest`` credential (RFC 7616 §3.4, RFC 7235 §2.1), names lowercased; duplicate
    names, stray text and empty lists are errors."""
    if len(header) > _HEADER_LIMIT:
        raise DigestHeaderError("header too long")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestHeaderError("not a Digest credential")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM_RE.match(rest, position)
        if match is None or match.end() == position:
            raise DigestHeaderError("malformed auth-param")
        name = match.group(1).lower()
        value = match.group(3) if match.group(2) is None else re.sub(r"\\(.)", r"\1", match.group(2))
        if name in params:
            raise DigestHeaderError(f"duplicate {name}")
        params[name] = value
        position = match.end()
    if not params:
        raise DigestHeaderError("no auth-params")
    return params


def _username(params: dict[str, str]) -> str:
    if "username*" in params:
        # RFC 7616 §3.4.4 / RFC 8187 extended notation for usernames outside ASCII: UTF-8''percent-encoded.
        if "username" in params:
            raise DigestHeaderError("both username and username*")
        charset, _, encoded = params["username*"].partition("''")
        if charset.lower() != "utf-8":
            raise DigestHeaderError("username* charset")
        return unquote(encoded, errors="strict")
    if "username" not in params:
        raise DigestHeaderError("missing username")
    return params["username"]


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str
    qop: str
    nc: str
    cnonce: str

    @classmethod
    def from_header(cls, header: str) -> DigestCredentials:
        params = parse_authorization(header)
        if params.get("userhash", "false").lower() == "true":
            # Hashed usernames would need every key's hash computed per request; no Atlas client sends them.
            raise DigestHeaderError("userhash unsupported")
        for required in ("realm", "nonce", "uri", "response", "qop", "nc", "cnonce"):
            if not params.get(required):
                raise DigestHeaderError(f"missing {required}")
        algorithm = next((a for a in ALGORITHMS if a.lower() == params.get("algorithm", "MD5").lower()), None)
        if algorithm is None:
            raise DigestHeaderError("unsupported algorithm")
        if params["qop"].lower() != "auth":
            raise DigestHeaderError("unsupported qop")
        if not _NC_RE.match(params["nc"]) or not _HEX_RE.match(params["response"]):
            raise DigestHeaderError("malformed nc or response")
        return cls(
            username=_username(params),
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"].lower(),
            algorithm=algorithm,
            qop="auth",
            nc=params["nc"],
            cnonce=params["cnonce"],
        )

    def expected_response(self, password: str, method: str) -> str:
        """RFC 7616 §3.4.1: response = H(HA1:nonce:nc:cnonce:qop:HA2), HA2 = H(method:uri)."""
        name = _HASHES[self.algorithm.removesuffix("-sess")]

        def h(data: str) -> str:
            # usedforsecurity=False: the protocol fixes the algorithm; FIPS builds would otherwise refuse MD5.
            return hashlib.new(name, data.encode("utf-8"), usedforsecurity=False).hexdigest()

        ha1 = h(f"{self.username}:{self.realm}:{password}")
        if self.algorithm.endswith("-sess"):
            ha1 = h(f"{ha1}:{self.nonce}:{self.cnonce}")
        ha2 = h(f"{method}:{self.uri}")
        return h(f"{ha1}:{self.nonce}:{self.nc}:{self.cnonce}:{self.qop}:{ha2}")


def _request_target(request: Request) -> str:
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    path = raw_path.split(b"?", 1)[0].decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def uri_matches(digest_uri: str, request: Request) -> bool:
    """The credential's ``uri`` names this request's target (§3.4.6): byte for byte, or after percent-decoding
    both (clients differ in which characters they escape), or as the absolute form of the same target on this
    server. An absolute ``uri`` must name this server's public address (:func:`atlas_sa.kit.urls.public_base`),
    not merely the same path: a response computed for a request to another host is not one for this request."""
    target = _request_target(request)
    candidate = digest_uri if digest_uri.startswith("/") else local_target(digest_uri, request)
    if candidate is None:
        return False
    return candidate == target or unquote(candidate) == unquote(target)


# --- replays ----------------------------------------------------------------------------------------------------


class ReplayGuard:
    """Per process: the highest nonce count accepted for each live nonce, least recently used forgotten first."""

    def __init__(self, capacity: int = REPLAY_TABLE_SIZE) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()
        # Nonces issued at or before this second are stale: one of them may have been forgotten.
        self.floor = -1

    def accept(self, nonce: str, issued_at: int, nc: int, *, expired_before: int | None = None) -> bool:
        """Record ``nc`` for ``nonce``; ``False`` when it does not exceed the last one accepted (a replay).

        Entries for nonces issued before ``expired_before`` are dropped from the cold end as they are met: such
        nonces are refused as stale before they get here, so forgetting them reopens nothing, and an idle table
        does not stay full."""
        if expired_before is not None:
            while self._seen:
                oldest = next(iter(self._seen.values()))
                if oldest[0] >= expired_before:
                    break
                self._seen.popitem(last=False)
        if issued_at <= self.floor:
            return False
        last = self._seen.get(nonce)
        if last is not None and nc <= last[1]:
            return False
        self._seen[nonce] = (issued_at, nc)
        self._seen.move_to_end(nonce)
        while len(self._seen) > self.capacity:
            _, (forgotten_issued_at, _) = self._seen.popitem(last=False)
            self.floor = max(self.floor, forgotten_issued_at)
        return True

    def __len__(self) -> int:
        return len(self._seen)


# --- authentication ---------------------------------------------------------------------------------------------


async def find_api_key(session: AsyncSession, public_key: str) -> ApiKey | None:
    # An over-long username, or one that is not admissible text (a NUL, which PostgreSQL refuses; atlas_sa.kit.text),
    # is looked up as the empty one, which no key has: the same query as any unknown key, so the answer's timing does
    # not tell malformed usernames from unknown or known ones, and the attempt fails, counted, as a wrong key does.
    lookup = public_key if len(public_key) <= 32 and admissible(public_key) else ""
    return await ApiKeyRepository(session).get_by_public_key(lookup)


class DigestAuth:
    """Digest authentication for one app: its nonce key, its replay table and its unknown-key stand-in. Built once
    by :func:`atlas_sa.auth.core.build_auth_core`."""

    def __init__(self, state: AppState, guard: BruteForceGuard) -> None:
        self._state = state
        self._guard = guard
        self._nonce_key = hmac.new(state.keys.hash_key, b"atlas-sa/digest-nonce/v1", hashlib.sha256).digest()
        self.replays = ReplayGuard()
        # A private key sealed as API keys are, unsealed in place of an unknown key's: every attempt costs one
        # AES-GCM opening and one digest computation, whether its public key exists or not. Random per process, so
        # it matches nothing an attacker can compute.
        self._stand_in = state.keys.encrypt(str(uuid.uuid4()).encode(), context=API_KEY_CONTEXT)

    # --- nonces -------------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._state.clock.now().timestamp())

    def new_nonce(self) -> str:
        body = self._now().to_bytes(8, "big") + secrets.token_bytes(_RANDOM_BYTES)
        mac = hmac.new(self._nonce_key, body, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def nonce_issued_at(self, nonce: str) -> int | None:
        """The second the nonce was issued, or ``None`` when this server did not issue it."""
        if len(nonce) > 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.new(self._nonce_key, body, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            return None
        return int.from_bytes(body[:8], "big")

    # --- challenges ---------------------------------------------------------------------------------------------

    def challenge(self, *, stale: bool = False, algorithm: str = "MD5") -> str:
        """The ``WWW-Authenticate`` value, in Atlas's exact shape (MD5 unless told otherwise)."""
        return (
            f'Digest realm="{REALM}", domain="", nonce="{self.new_nonce()}", algorithm={algorithm}, qop="auth", '
            f"stale={'true' if stale else 'false'}"
        )

    def challenges(self, *, stale: bool = False) -> list[str]:
        """Both challenges, preferred first (MD5, as Atlas; then SHA-256), each for its own ``WWW-Authenticate``."""
        return [self.challenge(stale=stale), self.challenge(stale=stale, algorithm="SHA-256")]

    # --- authentication -----------------------------------------------------------------------------------------

    def _private_key(self, row: ApiKey | None) -> str | None:
        """The key's private half, or for ``row=None`` the stand-in's."""
        keys = self._state.keys
        try:
            sealed = row.private_key_encrypted if row is not None else self._stand_in
            return keys.decrypt(sealed, context=API_KEY_CONTEXT).decode()
        except (InvalidTag, ValueError):
            # Sealed under another server key (the key was changed): unusable, and the caller only learns "401".
            log.warning("API key %s cannot be unsealed with the current server key", row.public_key if row else "-")
            return None

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal:
        """Verify ``Authorization: Digest …`` against the API keys; a :class:`Principal` for the key, or 401
        ``UNAUTHORIZED`` with a fresh challenge (``stale=true`` when only the nonce's age or count was wrong)."""

        def refuse(*, stale: bool = False) -> Unauthorized:
            return Unauthorized(challenge=self.challenge(stale=stale))

        header = request.headers.get("authorization")
        if header is None:
            raise refuse()
        try:
            credentials = DigestCredentials.from_header(header)
        except (DigestHeaderError, UnicodeError):
            raise refuse() from None
        if credentials.realm != REALM or not uri_matches(credentials.uri, request):
            raise refuse()
        issued_at = self.nonce_issued_at(credentials.nonce)
        if issued_at is None:
            raise refuse()
        guard = await self._guard.check(request.scope, "digest", credentials.username)
        row = await find_api_key(session, credentials.username)
        # Unknown keys pay for the same unsealing and digest computation, so timing does not tell them from known
        # ones.
        password = self._private_key(row)
        expected = credentials.expected_response(password or secrets.token_hex(16), request.method)
        if not hmac.compare_digest(expected.encode(), credentials.response.encode()) or row is None or password is None:
            await guard.failed(session)
            raise refuse()
        age = self._now() - issued_at
        if age > NONCE_TTL_SECONDS or age < -_FUTURE_SKEW_SECONDS:
            raise refuse(stale=True)
        expired_before = self._now() - NONCE_TTL_SECONDS
        if not self.replays.accept(
            credentials.nonce, issued_at, int(credentials.nc, 16), expired_before=expired_before
        ):
            raise refuse(stale=True)
        await guard.succeeded()
        return Principal(
            kind="api_key",
            id=row.public_key,
            org_id=row.org_id,
            org_roles=frozenset(row.roles),
            client_ip=client_ip(request),
            api_key_id=row.id,
        )
