"""The wall ships everything it loads, loads nothing from the network, and is served as such."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cxpulse.settings import load_settings
from exporters.api import create_web_app
from exporters.wall.routes import STATIC_PREFIX, register_wall

STATIC = resources.files("exporters.wall").joinpath("static")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def _refs() -> list[tuple[str, str, str]]:
    parser = _Refs()
    parser.feed(STATIC.joinpath("index.html").read_text(encoding="utf-8"))
    return parser.refs


def test_every_asset_index_html_references_is_in_the_package() -> None:
    assets = [value for tag, _, value in _refs() if tag in ("script", "link", "img")]
    assert len(assets) >= 2  # wall.css and wall.js at least
    prefix = STATIC_PREFIX.lstrip("/")  # relative, so the wall also works behind a path prefix
    for value in assets:
        assert value.startswith(prefix), value
        assert STATIC.joinpath(value[len(prefix):]).is_file(), f"{value} is not in exporters/wall/static"
    # the window links only change the query string
    for tag, _, value in _refs():
        if tag == "a":
            assert value.startswith("?"), value


def test_no_asset_loads_anything_from_the_network() -> None:
    files = [f for f in STATIC.iterdir() if f.is_file()]
    assert {f.name for f in files} >= {"index.html", "wall.css", "wall.js"}
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text, re.I), f"{f.name} contains a URL"
        assert not re.search(r"""(src|href)\s*=\s*["']?//""", text, re.I), f"{f.name} has a protocol-relative URL"
        assert "@import" not in text and "url(" not in text, f"{f.name} pulls in a stylesheet, font or image"
    js = STATIC.joinpath("wall.js").read_text(encoding="utf-8")
    fetched = re.findall(r"""fetchJson\(\s*["']([^"']+)""", js)
    assert fetched and all(not path.startswith(("/", "http")) for path in fetched), fetched


def _app(**kwargs: float) -> web.Application:
    app = create_web_app(load_settings())  # Redis is never contacted by these routes
    register_wall(app, **kwargs)
    register_wall(app)  # idempotent: exporters.api may mount it too
    return app


async def test_page_and_assets_are_served_with_a_strict_policy() -> None:
    async with TestClient(TestServer(_app())) as client:
        for path in ("/", "/wall"):
            response = await client.get(path)
            assert response.status == 200
            html = await response.text()
            assert 'data-stale-after="30"' in html and 'data-refresh="1"' in html
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        response = await client.get("/wall/?queue=billing", allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/wall?queue=billing"
        for name, kind in (("wall.css", "text/css"), ("wall.js", "text/javascript")):
            response = await client.get(STATIC_PREFIX + name)
            assert response.status == 200 and response.content_type == kind
        for bad in ("index.html", "..%2Froutes.py", "missing.js", "routes.py"):
            assert (await client.get(STATIC_PREFIX + bad)).status == 404, bad
        response = await client.get("/api/trends?window=2h")
        assert response.status == 400 and "unknown window" in (await response.json())["error"]


async def test_the_route_injects_the_stale_limit_it_is_given() -> None:
    async with TestClient(TestServer(_app(stale_after=7.5, refresh=2))) as client:
        html = await (await client.get("/wall")).text()
        assert 'data-stale-after="7.5"' in html and 'data-refresh="2"' in html
