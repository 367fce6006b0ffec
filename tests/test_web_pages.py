"""The UI's pages and files on the main port: served without a key, the AWS query protocol
still answered on ``/``, and the API and ``/metrics`` still behind the key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import ConsoleLog
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    server = VigilProcess(tmp_path_factory.mktemp("web") / "data", "--api-key", "k-9").start()
    yield server
    assert server.stop() == 0


def test_pages_and_assets_are_served_without_a_key(keyed: VigilProcess) -> None:
    for path in ("/", "/dashboards", "/dashboards/any-name", "/logs"):
        r = httpx.get(keyed.url + path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert '<meta name="vigil-features" content="alarms alarm-detail incidents">' in r.text
    script = re.search(r'src="(/static/assets/[^"]+\.js)"', r.text)
    assert script is not None
    asset = httpx.get(keyed.url + script.group(1))
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(keyed.url + "/static/assets/missing.js").status_code == 404


def test_the_api_and_metrics_stay_behind_the_key(keyed: VigilProcess) -> None:
    assert httpx.get(keyed.url + "/api/v1/dashboards").status_code == 401
    assert httpx.get(keyed.url + "/metrics").status_code == 401
    ok = httpx.get(keyed.url + "/api/v1/dashboards", headers={"Authorization": "Bearer k-9"})
    assert ok.status_code == 200


def test_root_still_answers_the_aws_query_protocol(keyed: VigilProcess) -> None:
    r = httpx.get(keyed.url + "/", params={"Action": "ListDashboards", "Version": "2010-08-01"})
    # Unsigned while a key is set: the AWS error, not the page.
    assert r.status_code == 403
    assert "<Code>" in r.text


def test_the_built_ui_is_in_the_package() -> None:
    static = Path(__file__).resolve().parent.parent / "src" / "vigil" / "web" / "static"
    assert (static / "index.html").is_file(), "run `make web` (make setup builds it)"


def test_the_page_asks_for_the_key(page: Any, console: ConsoleLog, keyed: VigilProcess) -> None:
    console.expect(r"status of 401")  # the first, keyless request
    page.goto(keyed.url + "/dashboards")
    page.get_by_label("This server needs an API key").fill("k-9")
    page.get_by_role("button", name="Use key").click()
    page.locator("table").get_by_role("link", name="vigil", exact=True).wait_for()
    assert page.get_by_label("This server needs an API key").count() == 0
