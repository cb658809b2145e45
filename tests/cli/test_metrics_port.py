"""``/metrics`` from a real ``atlas-sa serve``, parsed with prometheus-client's parser after real traffic: on the main
port by default; with ``ATLAS_SA_METRICS_PORT``, on that port alone (the main port answers 404 there, the metrics
port answers nothing else)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import TOKEN_PATH
from tests.support.server import bootstrap, free_port, live_server

pytestmark = pytest.mark.slow

ENV = {"ATLAS_SA_SECRET_KEY": "metrics-port-master-key-01234567"}
GRANT = {"grant_type": "client_credentials"}


def issued(metrics: httpx.Response) -> float:
    assert metrics.status_code == 200, metrics.text
    for family in text_string_to_metric_families(metrics.text):
        for sample in family.samples:
            if sample.name == "atlas_sa_tokens_issued_total":
                return sample.value
    raise AssertionError("no atlas_sa_tokens_issued_total")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'metrics.db'}"
    return url, bootstrap(url, ENV)


def test_metrics_on_the_main_port_by_default(served: tuple[str, dict[str, str]]) -> None:
    url, made = served
    with live_server(url, env=ENV) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        for _ in range(2):
            assert http.post(TOKEN_PATH, data=GRANT, auth=(made["clientId"], made["clientSecret"])).status_code == 200
        assert issued(http.get("/metrics")) == 2


def test_a_metrics_port_takes_metrics_off_the_main_port(served: tuple[str, dict[str, str]]) -> None:
    url, made = served
    metrics_port = free_port()
    env = {**ENV, "ATLAS_SA_METRICS_PORT": str(metrics_port)}
    with (
        live_server(url, env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
        httpx.Client(base_url=f"http://127.0.0.1:{metrics_port}", timeout=10) as scraper,
    ):
        assert http.post(TOKEN_PATH, data=GRANT, auth=(made["clientId"], made["clientSecret"])).status_code == 200
        hidden = http.get("/metrics")
        assert (hidden.status_code, hidden.json()["errorCode"]) == (404, "NOT_FOUND")
        assert issued(scraper.get("/metrics")) == 1
        for path in ("/healthz", TOKEN_PATH, "/api/atlas/v2/orgs"):
            assert scraper.get(path).status_code == 404, path
        assert scraper.post(TOKEN_PATH, data=GRANT, auth=(made["clientId"], made["clientSecret"])).status_code == 404
