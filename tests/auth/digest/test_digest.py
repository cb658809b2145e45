"""HTTP Digest (RFC 7616) against API keys, through a tiny app whose one route calls ``DigestAuth.authenticate``.

The app is built inline (as starlette's own tests do) so these tests exercise the authenticator alone, over real
HTTP and a real database, independently of how the API wires it into every route.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atlas_sa.auth.core import AuthCore, build_auth_core
from atlas_sa.auth.digest import NONCE_TTL_SECONDS, ReplayGuard
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.handlers import install_error_handlers
from atlas_sa.kit.ids import new_object_id
from atlas_sa.kit.negotiation import FormatMiddleware
from atlas_sa.kit.state import AppState
from atlas_sa.models import ApiKey
from atlas_sa.settings import Settings
from tests.auth.digest.helpers import DigestFields, parse_challenge, seed_api_key, seed_org

PROBE = "/probe/items"


def digest_app(settings: Settings, clock: FrozenClock, db: Database) -> FastAPI:
    app = FastAPI()
    app.state.atlas = AppState(settings=settings, db=db, clock=clock, keys=ServerKeys.from_settings(settings))
    app.state.auth = core = build_auth_core(app.state.atlas)
    install_error_handlers(app)
    app.add_middleware(FormatMiddleware)

    @app.api_route("/probe/{rest:path}", methods=["GET", "POST", "DELETE"])
    async def probe(request: Request) -> Response:
        async with db.unit_of_work(write=False) as session:
            principal = await core.digest.authenticate(request, session)
        return JSONResponse(
            {
                "kind": principal.kind,
                "id": principal.id,
                "orgId": principal.org_id,
                "orgRoles": sorted(principal.org_roles),
                "clientIp": principal.client_ip,
            }
        )

    return app


@pytest.fixture
def app(settings: Settings, clock: FrozenClock, db: Database) -> FastAPI:
    return digest_app(settings, clock, db)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.test") as client:
        yield client


@pytest.fixture
def keys(app: FastAPI) -> ServerKeys:
    state: AppState = app.state.atlas
    return state.keys


@pytest.fixture
async def org_id(db: Database, clock: FrozenClock) -> str:
    return await seed_org(db, clock)


@pytest.fixture
async def api_key(db: Database, keys: ServerKeys, clock: FrozenClock, org_id: str) -> tuple[str, str]:
    return await seed_api_key(db, keys, clock, org_id, ("ORG_MEMBER", "ORG_READ_ONLY"))


async def fresh_nonce(http: httpx.AsyncClient, path: str = PROBE) -> str:
    response = await http.get(path)
    assert response.status_code == 401
    return parse_challenge(response.headers["www-authenticate"])["nonce"]


def assert_refused(response: httpx.Response, *, stale: bool = False) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {
        "detail": "You are not authorized for this resource.",
        "error": 401,
        "errorCode": "UNAUTHORIZED",
        "parameters": [],
        "reason": "Unauthorized",
    }
    assert parse_challenge(response.headers["www-authenticate"])["stale"] == ("true" if stale else "false")


# --- the challenge ----------------------------------------------------------------------------------------------


async def test_no_credentials_get_atlas_challenge(http: httpx.AsyncClient) -> None:
    response = await http.get(PROBE)
    assert_refused(response)
    fields = parse_challenge(response.headers["www-authenticate"])
    assert fields["algorithm"] == "MD5"
    assert response.headers["x-error-code"] == "UNAUTHORIZED"
    # Each challenge carries its own nonce.
    assert fields["nonce"] != await fresh_nonce(http)


def test_challenges_offer_md5_then_sha256(app: FastAPI) -> None:
    core: AuthCore = app.state.auth
    md5, sha256 = core.digest.challenges()
    assert parse_challenge(md5)["algorithm"] == "MD5"
    assert parse_challenge(sha256)["algorithm"] == "SHA-256"
    assert parse_challenge(core.digest.challenge(stale=True))["stale"] == "true"


# --- success ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
async def test_handshake_succeeds(
    http: httpx.AsyncClient, api_key: tuple[str, str], org_id: str, algorithm: str
) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, PROBE, algorithm=algorithm)
    response = await http.get(PROBE, headers={"Authorization": fields.header()})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "api_key",
        "id": public,
        "orgId": org_id,
        "orgRoles": ["ORG_MEMBER", "ORG_READ_ONLY"],
        "clientIp": "198.51.100.7",
    }


async def test_nonce_serves_increasing_counts(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    for nc in ("00000001", "00000002", "0000000a"):
        fields = DigestFields(public, private, nonce, PROBE, nc=nc)
        assert (await http.get(PROBE, headers={"Authorization": fields.header()})).status_code == 200


async def test_httpx_digest_client_interoperates(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    # An independent Digest implementation (httpx's) reads our challenge and authenticates, twice in a row.
    public, private = api_key
    auth = httpx.DigestAuth(public, private)
    for path in (PROBE, "/probe/other?x=1&y=a%20b"):
        response = await http.get(path, auth=auth)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == public


async def test_post_and_query_string(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    target = "/probe/items?pageNum=2&name=a%2Fb"
    nonce = await fresh_nonce(http, target)
    fields = DigestFields(public, private, nonce, target, method="POST")
    response = await http.post(target, headers={"Authorization": fields.header()})
    assert response.status_code == 200, response.text


async def test_username_extended_notation(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, PROBE)
    header = fields.header(username=None, **{"username*": f"UTF-8''{public}"})
    assert (await http.get(PROBE, headers={"Authorization": header})).status_code == 200


# --- refusals ---------------------------------------------------------------------------------------------------


async def test_wrong_private_key(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private[:-1] + ("0" if private[-1] != "0" else "1"), nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


async def test_unknown_public_key(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    _, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields("zzzzzzzz", private, nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


async def test_response_bound_to_method(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, PROBE, method="GET")
    assert_refused(await http.delete(PROBE, headers={"Authorization": fields.header()}))


async def test_stale_nonce_then_recovery(http: httpx.AsyncClient, api_key: tuple[str, str], clock: FrozenClock) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    clock.advance(seconds=NONCE_TTL_SECONDS)
    # Still inside its lifetime at exactly the TTL.
    fields = DigestFields(public, private, nonce, PROBE)
    assert (await http.get(PROBE, headers={"Authorization": fields.header()})).status_code == 200
    clock.advance(seconds=1)
    fields = DigestFields(public, private, nonce, PROBE, nc="00000002")
    response = await http.get(PROBE, headers={"Authorization": fields.header()})
    assert_refused(response, stale=True)
    # The stale challenge's fresh nonce works without asking for the key again.
    renewed = parse_challenge(response.headers["www-authenticate"])["nonce"]
    fields = DigestFields(public, private, renewed, PROBE)
    assert (await http.get(PROBE, headers={"Authorization": fields.header()})).status_code == 200


async def test_stale_nonce_with_wrong_key_is_not_stale(
    http: httpx.AsyncClient, api_key: tuple[str, str], clock: FrozenClock
) -> None:
    # RFC 7616 §3.3: stale=true only when the digest itself was valid.
    public, _ = api_key
    nonce = await fresh_nonce(http)
    clock.advance(seconds=NONCE_TTL_SECONDS + 1)
    fields = DigestFields(public, "not-the-key", nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}), stale=False)


async def test_nonce_from_the_future_is_stale(
    http: httpx.AsyncClient, api_key: tuple[str, str], clock: FrozenClock
) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    clock.advance(seconds=-120)  # the clock was set back after the nonce was issued
    fields = DigestFields(public, private, nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}), stale=True)


async def test_replayed_nonce_count(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    first = DigestFields(public, private, nonce, PROBE, nc="00000001").header()
    assert (await http.get(PROBE, headers={"Authorization": first})).status_code == 200
    # The identical request again: a replay.
    assert_refused(await http.get(PROBE, headers={"Authorization": first}), stale=True)
    # Same count, new cnonce: still not greater than the last count.
    again = DigestFields(public, private, nonce, PROBE, nc="00000001").header()
    assert_refused(await http.get(PROBE, headers={"Authorization": again}), stale=True)
    third = DigestFields(public, private, nonce, PROBE, nc="00000003").header()
    assert (await http.get(PROBE, headers={"Authorization": third})).status_code == 200
    # Going back below the highest count seen is a replay too.
    second = DigestFields(public, private, nonce, PROBE, nc="00000002").header()
    assert_refused(await http.get(PROBE, headers={"Authorization": second}), stale=True)


async def test_refused_attempt_does_not_burn_the_count(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    wrong = DigestFields(public, "wrong", nonce, PROBE, nc="00000005").header()
    assert_refused(await http.get(PROBE, headers={"Authorization": wrong}))
    right = DigestFields(public, private, nonce, PROBE, nc="00000001").header()
    assert (await http.get(PROBE, headers={"Authorization": right})).status_code == 200


async def test_tampered_nonce(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    for index in (0, 7, 8, len(raw) - 1):  # issue time, random part, MAC
        forged = bytearray(raw)
        forged[index] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(forged)).decode().rstrip("=")
        fields = DigestFields(public, private, text, PROBE)
        assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))
    for text in ("", "abc", "x" * 200, "!!!!", nonce + "AA"):
        fields = DigestFields(public, private, text, PROBE)
        assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


async def test_nonce_of_another_server_key(
    http: httpx.AsyncClient, api_key: tuple[str, str], settings: Settings, clock: FrozenClock, db: Database
) -> None:
    public, private = api_key
    other = AppState(settings=settings, db=db, clock=clock, keys=ServerKeys.from_master("another-master-0123456789"))
    nonce = parse_challenge(build_auth_core(other).digest.challenge())["nonce"]
    fields = DigestFields(public, private, nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


@pytest.mark.parametrize("uri", ["/probe/other", "/probe/items?x=1", "/probe/item", "/", "http://evil.test/x"])
async def test_uri_must_name_the_request(http: httpx.AsyncClient, api_key: tuple[str, str], uri: str) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, uri)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


async def test_absolute_uri_of_the_same_target(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, f"http://atlas.test{PROBE}")
    assert (await http.get(PROBE, headers={"Authorization": fields.header()})).status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        f"http://evil.test{PROBE}",
        f"http://evil.test:666{PROBE}",
        f"https://atlas.test{PROBE}",
        f"http://atlas.test:8080{PROBE}",
        f"http://user@atlas.test{PROBE}",
        f"http://atlas.test:99999{PROBE}",
        f"//atlas.test{PROBE}",
        "probe/items",
    ],
)
async def test_absolute_uri_must_name_this_server(http: httpx.AsyncClient, api_key: tuple[str, str], uri: str) -> None:
    """§3.4.6: the digest-uri names the request's target. An absolute one naming another host (or port, or scheme)
    is refused even with the same path, and even when the request's own ``Host`` header names that host: the
    header is the client's to write, this server's address is not."""
    public, private = api_key
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, uri)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))
    nonce = await fresh_nonce(http)
    fields = DigestFields(public, private, nonce, uri)
    forged_host = {"Authorization": fields.header(), "Host": "evil.test"}
    assert_refused(await http.get(PROBE, headers=forged_host))


async def test_absolute_uri_names_the_configured_public_url(
    settings: Settings, clock: FrozenClock, db: Database, api_key: tuple[str, str]
) -> None:
    """With ``ATLAS_SA_ISSUER`` set, that is this server's address: absolute URIs must name it (its scheme, host,
    port and path prefix), and the address the connection reached no longer counts."""
    public, private = api_key
    configured = settings.model_copy(update={"issuer": "https://atlas.example.com/base/"})
    transport = httpx.ASGITransport(app=digest_app(configured, clock, db), client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.test") as http:
        for uri, status in [
            (f"https://atlas.example.com/base{PROBE}", 200),
            (f"HTTPS://Atlas.Example.com:443/base{PROBE}", 200),
            (f"https://atlas.example.com{PROBE}", 401),
            (f"https://atlas.example.com/basement{PROBE}", 401),
            (f"http://atlas.example.com/base{PROBE}", 401),
            (f"http://atlas.test{PROBE}", 401),
            (PROBE, 200),
        ]:
            nonce = await fresh_nonce(http)
            fields = DigestFields(public, private, nonce, uri)
            response = await http.get(PROBE, headers={"Authorization": fields.header()})
            assert response.status_code == status, uri


@pytest.mark.parametrize("missing", ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce"])
async def test_missing_field(http: httpx.AsyncClient, api_key: tuple[str, str], missing: str) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    header = DigestFields(public, private, nonce, PROBE).header(**{missing: None})
    assert_refused(await http.get(PROBE, headers={"Authorization": header}))


@pytest.mark.parametrize(
    "override",
    [
        {"realm": '"Another Realm"'},
        {"algorithm": "SHA-512-256"},
        {"algorithm": "md4"},
        {"qop": "auth-int"},
        {"nc": "1"},
        {"nc": "0000000g"},
        {"response": '"not-hex"'},
        {"userhash": "true"},
        {"username*": "UTF-8''abc"},
        {"username*": "ISO-8859-1''abc"},
    ],
)
async def test_bad_field(http: httpx.AsyncClient, api_key: tuple[str, str], override: dict[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    header = DigestFields(public, private, nonce, PROBE).header(**override)
    assert_refused(await http.get(PROBE, headers={"Authorization": header}))


async def test_duplicate_field(http: httpx.AsyncClient, api_key: tuple[str, str]) -> None:
    public, private = api_key
    nonce = await fresh_nonce(http)
    header = DigestFields(public, private, nonce, PROBE).header() + ", nc=00000002"
    assert_refused(await http.get(PROBE, headers={"Authorization": header}))


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"Digest",
        b"Digest ",
        b"digest ,,,",
        b'Digest username="abc',
        b"Digest username=a b",
        b'Digest username="a", =b',
        b"Digest username",
        b"Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        b"Bearer abc.def.ghi",
        b'Digest username="\xff\xfe", realm="MMS Public API"',
        b"Digest " + b"a=b, " * 2000,
        b'Digest username="a\\"b", realm="MMS Public API\\"',
    ],
)
async def test_garbage_headers_are_refused_never_crash(http: httpx.AsyncClient, header: bytes) -> None:
    assert_refused(await http.get(PROBE, headers={b"Authorization": header}))


async def test_key_sealed_under_another_server_key(
    http: httpx.AsyncClient, db: Database, clock: FrozenClock, org_id: str
) -> None:
    # What a changed ATLAS_SA_SECRET_KEY leaves behind: rows this server cannot unseal. 401, never 500.
    old_keys = ServerKeys.from_master("the-previous-master-key-000000")
    async with db.unit_of_work() as session:
        session.add(
            ApiKey(
                id=new_object_id(),
                org_id=org_id,
                public_key="oldoldol",
                private_key_encrypted=old_keys.encrypt(b"private", context=b"api-key"),
                description="sealed elsewhere",
                roles=["ORG_OWNER"],
                created_at=clock.now(),
            )
        )
    nonce = await fresh_nonce(http)
    fields = DigestFields("oldoldol", "private", nonce, PROBE)
    assert_refused(await http.get(PROBE, headers={"Authorization": fields.header()}))


# --- the replay table -------------------------------------------------------------------------------------------


def test_replay_guard_forgets_without_reopening_replays() -> None:
    guard = ReplayGuard(capacity=2)
    assert guard.accept("a", 100, 1)
    assert guard.accept("b", 101, 1)
    assert guard.accept("c", 102, 1)  # "a" is forgotten...
    assert not guard.accept("a", 100, 2)  # ...and every nonce issued no later than it is stale from then on
    assert guard.accept("c", 102, 2)
    assert not guard.accept("c", 102, 2)
    assert guard.accept("d", 103, 1)


def test_replay_guard_drops_expired_nonces_without_raising_the_floor() -> None:
    guard = ReplayGuard(capacity=10)
    for index, nonce in enumerate("abc"):
        assert guard.accept(nonce, 100 + index, 1)
    assert guard.accept("d", 500, 1, expired_before=102)
    assert len(guard) == 2  # "a" and "b" are gone; "c" (issued at 102) and "d" remain
    assert guard.floor == -1
    assert not guard.accept("c", 102, 1, expired_before=102)
    assert guard.accept("c", 102, 2, expired_before=102)
