"""The JS SSE clients `make bench` measures the page's client against, in the
same page and on the same bytes (bench/browser.py `Bench.throughput`).

The clients are pinned npm packages (tools/vendor.py `BENCH_JS_PACKAGES`)
that `tools/vendor.py --bench-js` unpacks under `vendor/bench-js/`; the stub
serves them with the rest of `/vendor/`. Only the benchmark loads them
(`LOAD_SCRIPT`, evaluated in the page opened with `?bench=1`): nothing of
them is in index.html, the page's scripts or `frontend.zip`.

They are ES modules with two bare or extension-less imports, resolved by an
import map the load script adds to the page (Chromium takes import maps
added after the first module, since version 133):

- `eventsource-client` imports `eventsource-parser`, which it wants at
  ^3.0.0: within its folder (a scope) the map points at the 3.x build;
- `@microsoft/fetch-event-source`'s ESM build imports `./fetch` and
  `./parse`: the map points those URLs at the `.js` files.

Each client does the work a page with it would do at the least, and nothing
more: read the stream with `fetch`, parse it, `JSON.parse` each event's data,
count it; each resolves to the milliseconds from its start to the `count`th
event (as `window.sseBench` does for the page's client, whose work per event
is more: pydantic validation and the stores).

- `eventsource-parser`: `createParser({onEvent})` (the callback API, as in
  3.x) fed by a `fetch` `ReadableStream` reader through a streaming
  `TextDecoder`;
- `eventsource-client`: `createEventSource({url, onMessage})` (its own fetch
  and reader, eventsource-parser 3 inside);
- `fetch-event-source`: `fetchEventSource(url, {onmessage})` (its own fetch
  and byte-level line parser; it calls `onmessage` for a block without
  `data:` too, such as the bursts' leading `retry:`, which the script skips,
  as an app using it must).
"""

from __future__ import annotations

from typing import Any

from tools.vendor import BENCH_JS_PACKAGES, bench_js_folder

__all__ = ["CLIENTS", "ENTRY_POINTS", "LOAD_SCRIPT", "import_map", "package_folder"]

BASE = "/vendor/bench-js"


def package_folder(name: str, major: str = "") -> str:
    """The served folder of the pinned package `name` (the one whose version
    starts with `major`, if given): `/vendor/bench-js/eventsource-parser-4.1.3`."""
    for spec in BENCH_JS_PACKAGES:
        package, version = spec.rsplit("@", 1)
        if package == name and version.startswith(major):
            return f"{BASE}/{bench_js_folder(spec)}"
    raise KeyError(f"{name}@{major}: not in tools/vendor.py BENCH_JS_PACKAGES")


ENTRY_POINTS = {
    # window.__jsClients key -> the module the bench imports
    "parser": f"{package_folder('eventsource-parser', '4.')}/index.js",
    "client": f"{package_folder('eventsource-client')}/default.esm.js",
    "fetchEventSource": f"{package_folder('@microsoft/fetch-event-source')}/index.js",
}
"""The modules of the three clients (with `eventsource-parser` the newest, 4.x)."""


def import_map() -> dict[str, Any]:
    """The import map the bench adds to the page (see the module docstring)."""
    fetch_event_source = package_folder("@microsoft/fetch-event-source")
    return {
        "imports": {f"{fetch_event_source}/{name}": f"{fetch_event_source}/{name}.js" for name in ("fetch", "parse")},
        "scopes": {
            f"{package_folder('eventsource-client')}/": {
                "eventsource-parser": f"{package_folder('eventsource-parser', '3.')}/index.js",
            },
        },
    }


LOAD_SCRIPT = """async ([map, entries]) => {
  if (!window.__jsClients) {
    const script = document.createElement('script');
    script.type = 'importmap';
    script.textContent = JSON.stringify(map);
    document.head.append(script);
    const names = Object.keys(entries);
    const modules = await Promise.all(names.map((name) => import(new URL(entries[name], location.href).href)));
    window.__jsClients = Object.fromEntries(names.map((name, index) => [name, modules[index]]));
  }
  return Object.keys(window.__jsClients).sort();
}"""
"""Evaluated with `[import_map(), ENTRY_POINTS]`: puts the modules on `window.__jsClients`."""


EVENTSOURCE_PARSER = """async ([url, count]) => {
  const {createParser} = window.__jsClients.parser;
  const start = performance.now();
  let received = 0;
  let elapsed = null;
  const parser = createParser({
    onEvent: (event) => {
      JSON.parse(event.data);
      if (++received === count) elapsed = performance.now() - start;
    },
  });
  const controller = new AbortController();
  const response = await fetch(url, {signal: controller.signal, cache: 'no-store', headers: {Accept: 'text/event-stream'}});
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  while (elapsed === null) {
    const {value, done} = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, {stream: true}));
  }
  controller.abort();
  if (elapsed === null) throw new Error(`eventsource-parser: ${received} of ${count} events`);
  return elapsed;
}"""

EVENTSOURCE_CLIENT = """([url, count]) => new Promise((resolve, reject) => {
  const {createEventSource} = window.__jsClients.client;
  const start = performance.now();
  let received = 0;
  const source = createEventSource({
    url,
    onMessage: (event) => {
      JSON.parse(event.data);
      if (++received === count) { const elapsed = performance.now() - start; source.close(); resolve(elapsed); }
    },
    onDisconnect: () => {
      if (received < count) { source.close(); reject(new Error(`eventsource-client: ${received} of ${count} events`)); }
    },
  });
})"""

FETCH_EVENT_SOURCE = """([url, count]) => new Promise((resolve, reject) => {
  const {fetchEventSource} = window.__jsClients.fetchEventSource;
  const controller = new AbortController();
  const start = performance.now();
  let received = 0;
  fetchEventSource(url, {
    signal: controller.signal,
    openWhenHidden: true,
    onmessage: (event) => {
      if (event.data === '') return;  // it calls back for a block without data too (the `retry:`)
      JSON.parse(event.data);
      if (++received === count) { const elapsed = performance.now() - start; controller.abort(); resolve(elapsed); }
    },
    onclose: () => { throw new Error(`fetch-event-source: ${received} of ${count} events`); },
    onerror: (error) => { throw error; },  // no retry: the promise rejects
  }).catch(reject);
})"""

CLIENTS = {
    "eventsource_parser": EVENTSOURCE_PARSER,
    "eventsource_client": EVENTSOURCE_CLIENT,
    "fetch_event_source": FETCH_EVENT_SOURCE,
}
"""Results-key name -> the script `page.evaluate(script, [url, count])` runs:
it resolves to the milliseconds until the `count`th event was parsed."""
