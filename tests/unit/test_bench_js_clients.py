"""The JS clients of `make bench` (bench/js_clients.py, tools/vendor.py
`BENCH_JS_PACKAGES`): pinned with their npm integrity, wired by the bench
page's import map, and nowhere in the product page or its bundle."""

from __future__ import annotations

import re
from pathlib import Path

from bench import js_clients
from tools import vendor

ROOT = Path(__file__).resolve().parents[2]


def test_every_bench_client_is_pinned_to_one_version_with_its_npm_integrity() -> None:
    names = [spec.rsplit("@", 1)[0] for spec in vendor.BENCH_JS_PACKAGES]
    assert sorted(set(names)) == ["@microsoft/fetch-event-source", "eventsource-client", "eventsource-parser"]
    for spec, (integrity, folder) in vendor.BENCH_JS_PACKAGES.items():
        assert re.fullmatch(r"[@a-z/-]+@\d+\.\d+\.\d+", spec), spec
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", integrity), spec
        assert folder.endswith("/")
    assert "@microsoft/fetch-event-source@2.0.1" in vendor.BENCH_JS_PACKAGES
    assert "eventsource-client@1.2.0" in vendor.BENCH_JS_PACKAGES


def test_the_bench_measures_eventsource_parser_4_and_eventsource_client_gets_the_3_x_it_depends_on() -> None:
    assert js_clients.ENTRY_POINTS["parser"] == "/vendor/bench-js/eventsource-parser-4.1.3/index.js"
    scopes = js_clients.import_map()["scopes"]
    assert scopes == {
        "/vendor/bench-js/eventsource-client-1.2.0/": {"eventsource-parser": "/vendor/bench-js/eventsource-parser-3.1.1/index.js"}
    }
    imports = js_clients.import_map()["imports"]
    assert imports["/vendor/bench-js/fetch-event-source-2.0.1/parse"] == "/vendor/bench-js/fetch-event-source-2.0.1/parse.js"
    assert vendor.bench_js_folder("@microsoft/fetch-event-source@2.0.1") == "fetch-event-source-2.0.1"


def test_each_client_parses_and_json_parses_every_event() -> None:
    assert set(js_clients.CLIENTS) == {"eventsource_parser", "eventsource_client", "fetch_event_source"}
    for script in js_clients.CLIENTS.values():
        assert "JSON.parse(event.data)" in script
        assert "++received === count" in script


def test_the_product_page_and_its_bundle_know_nothing_of_the_bench_clients() -> None:
    from tools.bundle import bundle_files

    for path in (ROOT / "index.html", ROOT / "pyscript.toml", *(ROOT / "frontend").rglob("*.*")):
        if path.is_file() and "__pycache__" not in path.parts:
            text = path.read_text(errors="replace")
            assert "bench-js" not in text and "eventsource-parser" not in text, path
    assert not [name for _, name in bundle_files(ROOT) if "bench" in name]
