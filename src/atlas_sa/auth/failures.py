"""Authentication failures and lockouts, logged as such (at WARNING, logger ``atlas_sa.auth.failures``) and counted
(:mod:`atlas_sa.kit.metrics`): OWASP ASVS V16 asks that a failed authentication and a lockout each leave a record
of who tried, from where, and what happened.

Who tried is the identity the request *claimed*: a client id, an API public key, shown only when it has the shape
of one (:func:`claimed`). A client that swaps its id and secret, or types a private key as its user name, sends a
secret where the id belongs; a value of any other shape is therefore never written, whatever field it came in.
The secret, token or private key itself is never an argument here.
"""

from __future__ import annotations

import logging
import re

from atlas_sa.kit.ids import is_client_id
from atlas_sa.kit.metrics import AUTH_FAILURES, AUTH_LOCKED_OUT, AUTH_LOCKOUTS

log = logging.getLogger("atlas_sa.auth.failures")

# API public keys are eight lowercase letters (atlas_sa.api_keys.service.new_public_key).
_PUBLIC_KEY = re.compile(r"[a-z]{8}")
NOT_SHOWN = "(not an id)"


def claimed(scheme: str, identity: str) -> str:
    """``identity`` if it has the shape of the scheme's identifiers, else :data:`NOT_SHOWN`."""
    if scheme == "oauth" and is_client_id(identity):
        return identity
    if scheme == "digest" and _PUBLIC_KEY.fullmatch(identity):
        return identity
    return NOT_SHOWN


def authentication_failed(scheme: str, identity: str | None, address: str) -> None:
    """A credential that did not authenticate: a wrong client secret or API key, an unknown id, an invalid or
    expired bearer token (``identity`` ``None``: a token names no one until it verifies)."""
    AUTH_FAILURES[scheme].inc()
    shown = claimed(scheme, identity) if identity is not None else "-"
    log.warning(
        "authentication failed: scheme=%s client=%s address=%s",
        scheme,
        shown,
        address,
        extra={"event": "authentication_failed", "scheme": scheme, "client": shown, "client_address": address},
    )


def lockout_begun(scheme: str, bucket: str, identity: str, address: str) -> None:
    """A failure emptied a brute-force bucket: further attempts of this ``bucket`` (``pair``, ``address``,
    ``client``) are refused until it refills."""
    AUTH_LOCKOUTS.labels(scheme, bucket).inc()
    shown = claimed(scheme, identity)
    log.warning(
        "lockout begun: scheme=%s bucket=%s client=%s address=%s",
        scheme,
        bucket,
        shown,
        address,
        extra={
            "event": "lockout_begun",
            "scheme": scheme,
            "bucket": bucket,
            "client": shown,
            "client_address": address,
        },
    )


def locked_out(scheme: str, bucket: str, identity: str, address: str) -> None:
    """An attempt refused, before its credential was checked, because of a lockout."""
    AUTH_LOCKED_OUT[scheme].inc()
    shown = claimed(scheme, identity)
    log.warning(
        "attempt refused during lockout: scheme=%s bucket=%s client=%s address=%s",
        scheme,
        bucket,
        shown,
        address,
        extra={"event": "locked_out", "scheme": scheme, "bucket": bucket, "client": shown, "client_address": address},
    )
