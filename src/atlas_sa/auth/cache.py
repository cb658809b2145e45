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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from atlas_sa.auth.signing import VerificationKey
from atlas_sa.changes import EVERYTHING
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.metrics import CACHE_HITS, CACHE_MISSES

MAX_ENTRIES = 20_000
# Hits and misses of each lookup, for the metrics (precreated children: a lookup is on every hot request).
_PRINCIPAL_HIT, _PRINCIPAL_MISS = CACHE_HITS["principal"], CACHE_MISSES["principal"]
_CLIENT_HIT, _CLIENT_MISS = CACHE_HITS["client"], CACHE_MISSES["client"]


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


class AuthCaches:
    def __init__(self) -> None:
        self.epoch = 0
        self._principals: dict[str, CachedPrincipal] = {}
        self._by_account: dict[str, set[str]] = {}
        self._by_org: dict[str, set[str]] = {}
        # Every cached string of a jti: one string per token is what ``tokens.canonical`` allows, but the token's
        # end must not depend on it (the signing key can sign the same claims twice, each signature canonical).
        self._by_jti: dict[str, set[str]] = {}
        self._clients: dict[str, CachedClient] = {}
        self._client_by_account: dict[str, str] = {}

    # --- principals ------------------------------------------------------------------------------------------

    def principal(self, token: str) -> CachedPrincipal | None:
        found = self._principals.get(token)
        (_PRINCIPAL_MISS if found is None else _PRINCIPAL_HIT).inc()
        return found

    def put_principal(self, token: str, entry: CachedPrincipal, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._principals) >= MAX_ENTRIES:
            self._drop_token(next(iter(self._principals)))
        self._principals[token] = entry
        account_id = entry.principal.account_id or ""
        self._by_account.setdefault(account_id, set()).add(token)
        self._by_org.setdefault(entry.principal.org_id or "", set()).add(token)
        self._by_jti.setdefault(entry.jti, set()).add(token)

    def _drop_token(self, token: str) -> None:
        entry = self._principals.pop(token, None)
        if entry is None:
            return
        for index, key in (
            (self._by_jti, entry.jti),
            (self._by_account, entry.principal.account_id or ""),
            (self._by_org, entry.principal.org_id or ""),
        ):
            tokens = index.get(key)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del index[key]

    # --- clients ---------------------------------------------------------------------------------------------

    def client(self, client_id: str) -> CachedClient | None:
        found = self._clients.get(client_id)
        (_CLIENT_MISS if found is None else _CLIENT_HIT).inc()
        return found

    def put_client(self, client_id: str, entry: CachedClient, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._clients) >= MAX_ENTRIES and client_id not in self._clients:
            self._drop_client(next(iter(self._clients)))
        self._clients[client_id] = entry
        self._client_by_account[entry.account_id] = client_id

    def _drop_client(self, client_id: str) -> None:
        entry = self._clients.pop(client_id, None)
        if entry is not None:
            self._client_by_account.pop(entry.account_id, None)

    # --- invalidation ----------------------------------------------------------------------------------------

    def invalidate(self, keys: Iterable[str]) -> None:
        """:class:`atlas_sa.changes.Follower`."""
        self.epoch += 1
        for key in keys:
            if key == EVERYTHING:
                self.clear()
                return
            kind, _, value = key.partition(":")
            if kind == "a":
                for token in list(self._by_account.get(value, ())):
                    self._drop_token(token)
                client_id = self._client_by_account.get(value)
                if client_id is not None:
                    self._drop_client(client_id)
            elif kind == "c":
                self._drop_client(value)
            elif kind == "o":
                for token in list(self._by_org.get(value, ())):
                    self._drop_token(token)
            elif kind == "t":
                for token in list(self._by_jti.get(value, ())):
                    self._drop_token(token)

    def clear(self) -> None:
        self.epoch += 1
        self._principals.clear()
        self._by_account.clear()
        self._by_org.clear()
        self._by_jti.clear()
        self._clients.clear()
        self._client_by_account.clear()
