"""What authentication caches between requests, and how every change that could make a cached answer wrong removes
it: on this instance before the changing request is answered, on every other instance within a second.

Two caches, one per app, in :class:`AuthCaches`, which ``build_auth_core`` builds once and hands to the authenticator
and the token endpoint:

- **principals**, by bearer token string: the verified token (signature, issuer, audience, claims were checked when
  it was cached, so a cached token is never verified twice) with the account's roles and its access-list rules.
  A hit still checks ``iat``/``exp`` and the signing key's retirement against the clock on every request.
- **clients**, by client id: the account's ids and its secrets' hashes and expiry, for the token endpoint, filled
  by successful authentications only; a secret it does not match is checked against the database, so a known id
  fails no faster than an unknown one (:func:`atlas_sa.auth.minting.authenticate_cached`).

(The third, the views of ``getOrgServiceAccount``, is the service accounts' own:
:class:`atlas_sa.service_accounts.views.ViewCache`.)

What to drop is named by the commits themselves (:mod:`atlas_sa.changes`): an account's key drops its principals and
its client, a client id's its client, an organization's the principals of its accounts (its settings are part of
their access rules), a token's the principal of that token, and only an administrative write naming nothing drops
everything. Other accounts' entries stay.

A reader that misses fills the cache only if nothing was invalidated while it read (``epoch`` unchanged): otherwise
it could store a row read before a change whose invalidation has already run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from atlas_sa.auth.signing import VerificationKey
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.indexed import FollowingCache, IndexedEntries

MAX_ENTRIES = 20_000
# The indexes of the principals (by what ``_principal_owners`` returns) and of the clients.
_BY_ACCOUNT, _BY_ORG, _BY_JTI = 0, 1, 2


@dataclass(frozen=True, slots=True)
class AccessRules:
    """A service account's access list (CIDR blocks) and, for an empty one, its organization's requirement."""

    blocks: tuple[str, ...]
    org_requires_list: bool


@dataclass(frozen=True, slots=True)
class CachedPrincipal:
    principal: Principal  # without ``client_ip``: that is the request's
    jti: str
    iat: int
    exp: int
    row_expires_at: datetime
    key: VerificationKey
    access: AccessRules

    def valid_at(self, now: datetime) -> bool:
        seconds = int(now.timestamp())
        return self.iat <= seconds < self.exp and now < self.row_expires_at and self.key.verifies_at(now)


@dataclass(frozen=True, slots=True)
class CachedSecret:
    id: str
    secret_hash: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CachedClient:
    account_id: str
    client_id: str
    org_id: str
    secrets: tuple[CachedSecret, ...]


def _principal_owners(entry: CachedPrincipal) -> tuple[str, str, str]:
    # Every cached string of a jti is filed under it: one string per token is what ``tokens.canonical`` allows, but
    # the token's end must not depend on it (the signing key can sign the same claims twice, each signature canonical).
    return entry.principal.account_id or "", entry.principal.org_id or "", entry.jti


def _client_owners(entry: CachedClient) -> tuple[str]:
    return (entry.account_id,)


class AuthCaches(FollowingCache):
    def __init__(self) -> None:
        super().__init__()
        self._principals = IndexedEntries[str, CachedPrincipal]("principal", _principal_owners, 3, MAX_ENTRIES)
        self._clients = IndexedEntries[str, CachedClient]("client", _client_owners, 1, MAX_ENTRIES)

    def principal(self, token: str) -> CachedPrincipal | None:
        return self._principals.get(token)

    def put_principal(self, token: str, entry: CachedPrincipal, epoch: int) -> None:
        if epoch == self.epoch:
            self._principals.put(token, entry)

    def client(self, client_id: str) -> CachedClient | None:
        return self._clients.get(client_id)

    def put_client(self, client_id: str, entry: CachedClient, epoch: int) -> None:
        if epoch == self.epoch:
            self._clients.put(client_id, entry)

    def drop_named(self, kind: str, value: str) -> None:
        if kind == "a":
            self._principals.drop_owned(_BY_ACCOUNT, value)
            self._clients.drop_owned(_BY_ACCOUNT, value)
        elif kind == "c":
            self._clients.drop(value)
        elif kind == "o":
            self._principals.drop_owned(_BY_ORG, value)
        elif kind == "t":
            self._principals.drop_owned(_BY_JTI, value)

    def drop_all(self) -> None:
        self._principals.clear()
        self._clients.clear()
