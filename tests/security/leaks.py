"""Finding a secret where it must not be: every form of it we would call recoverable, searched for in bytes."""

from __future__ import annotations

import base64
from collections.abc import Iterable

import httpx


def forms(secret: str) -> list[bytes]:
    """Every form of ``secret`` we would call recoverable."""
    raw = secret.encode()
    random_part = secret.rsplit("_", maxsplit=1)[-1] if secret.startswith("mdb_sa_sk_") else secret
    candidates = {raw, random_part[:-4].encode(), raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")}
    candidates.add(base64.urlsafe_b64encode(raw).rstrip(b"="))
    if secret.count(".") == 2:  # a JWT: its signature is what makes it usable
        candidates.add(secret.rsplit(".", 1)[1].encode())
    return [c for c in candidates if len(c) >= 12]


def assert_absent(haystack: bytes, secrets: dict[str, str], where: str) -> None:
    for name, secret in secrets.items():
        for form in forms(secret):
            assert form not in haystack, f"{name} found in {where}"


def responses_text(responses: Iterable[httpx.Response]) -> bytes:
    parts = []
    for response in responses:
        parts.append(response.content)
        parts.extend(f"{k}: {v}".encode() for k, v in response.headers.items())
    return b"\n".join(parts)
