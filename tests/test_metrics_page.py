"""``GET /metrics``: the metrics explorer's page for a browser, vigil's exposition for
everything else — and with an API key, the page needs none (it holds no data) while a
scrape still does."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.runtime import InProcessVigil

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def test_the_page_needs_no_key_and_a_scrape_still_does(tmp_path: Path) -> None:
    server = InProcessVigil(tmp_path / "data", "--api-key", "s3cret", "--no-self-metrics").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            page = http.get("/metrics", headers={"Accept": BROWSER})
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            # the page's data calls need the key, as always
            assert http.get("/api/v1/metrics/series").status_code == 401
            for accept in (PROMETHEUS, "text/plain", "*/*"):
                refused = http.get("/metrics", headers={"Accept": accept})
                assert refused.status_code == 401, accept
                scrape = http.get(
                    "/metrics", headers={"Accept": accept, "Authorization": "Bearer s3cret"}
                )
                assert scrape.status_code == 200
                assert "# TYPE vigil_" in scrape.text
            # a POST is never the page
            assert http.post("/metrics", headers={"Accept": BROWSER}).status_code in (401, 405)
    finally:
        assert server.stop() == 0
