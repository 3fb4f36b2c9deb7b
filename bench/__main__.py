"""`make bench`: run every benchmark, write bench/results.json and BENCHMARKS.md.

    python -m bench [--quick] [SECTION ...]

With SECTIONs (browser sections of bench/browser.py `SECTIONS`: visits,
time_to_live, throughput, replay, latency, reconnect_overhead, memory;
`cpython`, bench/cpython_transport.py; `engines`, bench/engines.py), only
those run; their figures replace theirs in bench/results.json, the others
stay, and BENCHMARKS.md is written again.

CPython figures (parser against httpx-sse, the package's CPython transport
against httpx-sse over HTTP, the herd simulation, a profile
of the per-event pipeline) and browser figures (Chromium against the stub:
a person's first and return visit through a throttled link, time to live on
localhost, shell paint, throughput against the native EventSource in the
same page and against three npm JS clients, a replay's long tasks, latency,
reconnect overhead, memory over reconnects).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import browser, cpython_transport, engines, herd, parser_bench, pipeline

ROOT = Path(__file__).resolve().parent.parent

# (key, goal text, test of the goal on the median, how it was measured)
FIGURES: list[tuple[str, str, Any, str]] = [
    ("first_visit_form_s", "<= 1.0 s", lambda v: v <= 1.0,
     "10 Mbit/s down, 40 ms round trip (bench/throttle.py, one shared link, bytes counted as they cross), a browser "
     "on a fresh on-disk profile: navigation start -> the login form visible and enabled"),
    ("first_visit_live_s", "<= 6.0 s", lambda v: v <= 6.0,
     "same visit, credentials typed and submitted as soon as the form takes input: navigation start -> Connected "
     "and the session's actions listed"),
    ("first_visit_mb", "<= 6.0 MB", lambda v: v <= 6.0,
     "bytes that crossed the link towards the browser from navigation to live (per file: `first_visit_files`)"),
    ("return_visit_live_s", "<= 1.5 s", lambda v: v <= 1.5,
     "the first tab closed, a new tab of the same profile (signed in: the tabs share the login), same measure"),
    ("return_visit_mb", "<= 0.25 MB", lambda v: v <= 0.25, "bytes that crossed the link during the return visit"),
    ("time_to_live_cold_s", "<= 2.0 s", lambda v: v <= 2.0,
     "localhost: a browser on a new profile (empty caches), logged in (token in localStorage); navigation start "
     "-> first notification toast rendered (the stub sends one every 50 ms)"),
    ("time_to_live_warm_s", "<= 1.0 s", lambda v: v <= 1.0,
     "reload in that browser once it made its own snapshot (its disk HTTP cache, V8 code cache and snapshot warm, "
     "as a user's), same measure; incognito-like context: `time_to_live_warm_incognito_s`; never a snapshot: "
     "`time_to_live_warm_scratch_s`"),
    ("shell_painted_ms", "<= 300 ms", lambda v: v <= 300,
     "first-contentful-paint of the cold load: the static shell with the indicator, before Python starts"),
    ("throughput_vs_native_ratio", ">= 8", lambda v: v >= 8,
     "20,000 events of ~100 B from /_test/burst, each message different, bytes -> parser -> pydantic -> stores, "
     "over the native EventSource + JSON.parse on the same stream in the same page, alternated; one message "
     "repeated: `throughput_vs_native_ratio_same_payload`"),
    ("throughput_mixed_vs_native_ratio", ">= 6", lambda v: v >= 6,
     "20,000 mixed events (action_updated, agreement_updated with increasing updated_at, notification, "
     "interleaved; bench/streams.py `mixed_burst`), ours over the native EventSource + JSON.parse, same page"),
    ("throughput_mixed_vs_best_js_ratio", ">= 0.5", lambda v: v >= 0.5,
     "the same mixed stream, ours (parse + pydantic + stores) over the fastest of eventsource-parser, "
     "eventsource-client and fetch-event-source (fetch + parse + JSON.parse) in that repetition; clients rotated. "
     "The page's path with validation cut down to pydantic-core's JSON parser and no stores, over the same: "
     "`throughput_mixed_json_only_vs_best_js_ratio` (the most a pydantic-validating client reaches here)"),
    ("throughput_same_vs_best_js_ratio", ">= 1.0", lambda v: v >= 1.0,
     "one type: 20,000 notifications of ~100 B, each message different, ours over the fastest JS client "
     "(JSON parser alone: `throughput_same_json_only_vs_best_js_ratio`)"),
    ("throughput_4kib_vs_best_js_ratio", ">= 0.6", lambda v: v >= 0.6,
     "2,000 action_updated events of 4 KiB, ours over the fastest JS client (JSON parser alone: "
     "`throughput_4kib_json_only_vs_best_js_ratio`)"),
    ("replay_longest_task_ms", "<= 50 ms", lambda v: v <= 50,
     "20,000 mixed events (6 MB) written at once to a logged-in live page's stream: the longest main-thread task "
     "(PerformanceObserver `longtask`) until the replay's last action, agreement and notification are in the DOM"),
    ("latency_p99_ms", "<= 20 ms", lambda v: v <= 20,
     "raw action_updated frames at 50/s for 30 s; emit time in the body -> MutationObserver sees the row change"),
    ("tabs_handover_gap_ms", "<= 1000 ms", lambda v: v <= 1000,
     "two tabs of one profile sharing one stream, updates PUT every 20 ms: the leader tab closed -> the first update "
     "made after the close shown by the other tab (a new leader, its stream opened with Last-Event-ID)"),
    ("tabs_latency_follower_p99_ms", "<= 20 ms", lambda v: v <= 20,
     "the same two tabs, raw frames at 50/s for 10 s: emit -> DOM in the follower tab (the leader's beside it: "
     "`tabs_latency_leader_p99_ms`)"),
    ("reconnect_overhead_ms", "<= 250 ms", lambda v: v <= 250,
     "drop + one 503: from the retry the client scheduled (stub back by then) to the action made during the "
     "outage rendered (stream live, replay applied)"),
    ("memory_growth_mb_500_reconnects", "<= 2 MB", lambda v: v <= 2,
     "JS heap (CDP, after GC) + Pyodide wasm heap, after minus before 500 forced reconnects"),
    ("herd_peak_fraction_100ms", "<= 0.15", lambda v: v <= 0.15,
     "10,000 real SSEConnections on a simulated clock dropped at once, server down 10 s: largest share attempting "
     "in any 100 ms"),
    ("engine_webkit_fresh_ready_s", "<= 4.0 s", lambda v: v <= 4.0,
     "WebKitGTK (Debian's, WebKitWebDriver under Xvfb), localhost, a fresh profile: navigation start -> the app "
     "mounted (logged out); every engine in the Browsers table"),
    ("engine_webkit_reload_ready_s", "<= 2.5 s", lambda v: v <= 2.5,
     "the same after the page made its own snapshot: a reload"),
    ("parser_vs_httpx_sse_ratio", ">= 1.5", lambda v: v >= 1.5,
     "the same 20,000-event stream in 64 KiB chunks, httpx-sse's time over ours, alternated in one process"),
    ("cpython_vs_httpx_sse_ratio", ">= 2", lambda v: v >= 2,
     "the package's CPython transport (`sse_client.AsyncEventSource`: parser and the reconnecting state machine) "
     "against httpx-sse's `aconnect_sse(...).aiter_sse()`, the same 20,000 events of ~100 B from the stub's "
     "/_test/burst over a localhost socket, httpx-sse's time over ours, alternated (bench/cpython_transport.py)"),
    ("cpython_vs_httpx_sse_ratio_mixed", ">= 2", lambda v: v >= 2,
     "the same on the mixed stream (action, agreement and notification updates interleaved)"),
]


def _median(value: Any) -> float:
    return value["median"] if isinstance(value, dict) else value


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "median" in value:
        return f"{_fmt_number(value['median'])} ({_fmt_number(value['min'])}–{_fmt_number(value['max'])}, n={value['n']})"
    return _fmt_number(value)


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}"
    return str(value)


STREAM_NAMES = {
    "100b": "one type, ~100 B, each message different (20,000)",
    "100b_same": "one type, ~100 B, one message repeated (20,000)",
    "mixed": "mixed: action_updated, agreement_updated, notification interleaved, ~300 B (20,000)",
    "4kib": "action_updated of 4 KiB (2,000)",
}


def _clients_table(table: dict[str, dict[str, Any]], versions: list[str]) -> list[str]:
    """Stream x client: events/s, and ours over each (medians of the
    per-repetition figures, one page, clients rotated per repetition)."""
    clients = list(next(iter(table.values())))
    lines = [
        "",
        "### Throughput against the JS clients, one page (events/s; ours over each in brackets)",
        "",
        "Same URL and bytes for every client; `ours` is fetch + the page's parser + pydantic validation + the "
        "stores (`window.sseBench`), `ours_json_only` the same with validation cut down to pydantic-core's JSON "
        "parser and no stores, the others fetch + parse + `JSON.parse` of each event's data "
        f"(bench/js_clients.py; {', '.join(versions)}); `native` is EventSource + `JSON.parse`. Medians.",
        "",
        "| stream | " + " | ".join(clients) + " |",
        "|---|" + "---|" * len(clients),
    ]
    for label, row in table.items():
        cells = []
        for client in clients:
            rate = row[client]["events_per_s"]["median"]
            ratio = row[client]["ours_over"]["median"]
            cells.append(f"{rate:,.0f}" if client == "ours" else f"{rate:,.0f} ({ratio:.2f})")
        lines.append(f"| {STREAM_NAMES.get(label, label)} | " + " | ".join(cells) + " |")
    return lines


def _stages_table(stages: dict[str, dict[str, float]], clients: dict[str, dict[str, Any]]) -> list[str]:
    """The page's µs per event by stage (`Bench._stages`), beside the fastest JS client's."""
    lines = [
        "",
        "### Where the page's time per event goes (µs per event, no profiler)",
        "",
        "`window.sseBench` stopped after parsing, after pydantic-core's JSON parser alone (`from_json` of each "
        "event's data, nothing checked), after validation, and whole, on each stream; each stage is its time less "
        "the previous stage's in the same repetition (medians). Best JS: the fastest JS client's whole time per "
        "event in the throughput runs (fetch, its parser and `JSON.parse`).",
        "",
        "| stream | parse (fetch + parser) | JSON (pydantic-core `from_json`) | validation beyond JSON | stores "
        "(handlers) | total | best JS |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in stages.items():
        js = [
            value["events_per_s"]["median"]
            for name, value in clients.get(label, {}).items()
            if name not in ("ours", "ours_json_only", "native")
        ]
        best = f"{1e6 / max(js):.1f}" if js else "-"
        stages_shown = ("parse", "json", "validate", "stores", "total")
        cells = " | ".join(f"{row[stage]:.1f}" if stage in row else "-" for stage in stages_shown)
        lines.append(f"| {STREAM_NAMES.get(label, label)} | {cells} | {best} |")
    return lines


def _trace_table(trace: dict[str, Any]) -> list[str]:
    """The replay's steps timed in the page (`Bench.replay`, `window.sseBenchTrace`)."""
    page = trace.get("page", {})
    lines = [
        "",
        "### The replay's steps, timed in the live page (one traced replay)",
        "",
        f"20,000 mixed events written at once; in this run: {page.get('count')} long tasks, the longest "
        f"{page.get('longest')} ms, {page.get('total')} ms in long tasks, all in the DOM after "
        f"{page.get('done', 0):,.0f} ms. Nested steps are counted in each (a slice holds its handlers; a render "
        "its rows).",
        "",
        "| step | calls | total ms | longest call ms | calls > 50 ms | largest chunk (bytes) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in trace.items():
        if name != "page":
            chunk = f"{row['max_chunk_bytes']:,}" if row.get("max_chunk_bytes") else ""
            cells = f"{row['calls']} | {row['total_ms']:,.0f} | {row['max_ms']:.1f} | {row['over_50ms']} | {chunk}"
            lines.append(f"| `{name}` | {cells} |")
    return lines


TABLES = {"throughput_clients", "throughput_stages_us_per_event", "replay_trace"}
"""Keys shown as tables of their own, not in the list of figures."""


def write_report(results: dict[str, Any], path: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {results['meta']['date']} ({results['meta']['machine']}). Raw figures: "
        "`bench/results.json`. Medians, with (min–max, repetitions). Every ratio is measured side by side in one run.",
        "",
        "| figure | measured | goal | met | how |",
        "|---|---|---|---|---|",
    ]
    for key, goal, test, how in FIGURES:
        if key not in results:
            lines.append(f"| `{key}` | not measured | {goal} | – | {how} |")
            continue
        met = "yes" if test(_median(results[key])) else "**no**"
        lines.append(f"| `{key}` | {_fmt(results[key])} | {goal} | {met} | {how} |")
    lines += [
        "",
        "## References and absolute figures",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    profiles = {key: value for key, value in results.items() if key.endswith("_profile") and isinstance(value, str)}
    shown = {key for key, *_ in FIGURES} | {"meta", *TABLES} | set(profiles)
    files = {key: value for key, value in results.items() if key.startswith("first_visit_files")}
    shown |= set(files)
    engine_names = [key[7:-8] for key in results if key.startswith("engine_") and key.endswith("_version")]
    shown |= {key for key in results if key.startswith("engine_")}
    for key, value in results.items():
        if key not in shown:
            shown_value = _fmt(value) if not isinstance(value, dict) or "median" in value else json.dumps(value)
            lines.append(f"| `{key}` | {shown_value} |")
    if engine_names:
        lines += [
            "",
            "### Browsers: time to app-ready on localhost (navigation start -> the app mounted)",
            "",
            "| engine | fresh profile | reload (its own snapshot) | starts (fresh, reload, ...) | a snapshot downloaded |",
            "|---|---|---|---|---|",
        ]
        for name in engine_names:
            fresh, reload = results.get(f"engine_{name}_fresh_ready_s"), results.get(f"engine_{name}_reload_ready_s")
            fresh_text, reload_text = (_fmt(value) if value else "-" for value in (fresh, reload))
            lines.append(
                f"| {results[f'engine_{name}_version']} | {fresh_text} s | {reload_text} s "
                f"| {', '.join(results.get(f'engine_{name}_boots', []))} | {results.get(f'engine_{name}_snapshot_downloaded')} |"
            )
    if "throughput_clients" in results:
        lines += _clients_table(results["throughput_clients"], results.get("throughput_js_versions", []))
    if "throughput_stages_us_per_event" in results:
        lines += _stages_table(results["throughput_stages_us_per_event"], results.get("throughput_clients", {}))
    if "replay_trace" in results:
        lines += _trace_table(results["replay_trace"])
    for key, per_file in files.items():
        lines += ["", f"### `{key}`: bytes per file over the link, first visit", "", "| file | bytes |", "|---|---|"]
        lines += [f"| `{name}` | {size:,} |" for name, size in sorted(per_file.items(), key=lambda item: -item[1])]
        lines.append(f"| all | {sum(per_file.values()):,} |")
    lines += ["", (ROOT / "bench" / "NOTES.md").read_text() if (ROOT / "bench" / "NOTES.md").exists() else ""]
    for key, text in profiles.items():
        lines += ["", f"### `{key}`", "", "```", text.rstrip(), "```"]
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    arguments.add_argument("sections", nargs="*", choices=[[], *browser.SECTIONS, "cpython", "engines"], metavar="SECTION",
                           help=f"only these sections: {', '.join(browser.SECTIONS)}, cpython (the package's "
                           "CPython transport against httpx-sse), engines (app-ready in Chromium, Firefox and WebKit)")
    options = arguments.parse_args()
    started = time.monotonic()
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        "Debian Chromium, headless",
        "quick": options.quick,
    }
    results_path = ROOT / "bench" / "results.json"
    if options.sections:
        results = json.loads(results_path.read_text()) if results_path.exists() else {"meta": meta}
        results = {key: value for key, value in results.items() if key not in {f"error_{s}" for s in options.sections}}
        browser_sections = [section for section in options.sections if section not in ("cpython", "engines")]
        if "cpython" in options.sections:
            results.update(cpython_transport.run(3 if options.quick else 9))
        if "engines" in options.sections:
            results.update(engines.run(quick=options.quick))
        if browser_sections:
            results.update(browser.run(quick=options.quick, only=browser_sections))
        results["meta"].setdefault("sections", {}).update({section: meta["date"] for section in options.sections})
    else:
        results = {"meta": meta}
        for name, step in (
            ("parser", lambda: parser_bench.run(5 if options.quick else 15)),
            ("cpython transport", lambda: cpython_transport.run(3 if options.quick else 9)),
            ("pipeline profile", pipeline.run),
            ("herd", lambda: herd.run(1 if options.quick else 3)),
            ("browser", lambda: browser.run(quick=options.quick)),
            ("engines", lambda: engines.run(quick=options.quick)),
        ):
            step_started = time.monotonic()
            results.update(step())
            print(f"bench: {name} done in {time.monotonic() - step_started:.0f} s", flush=True)
        results["meta"]["seconds"] = round(time.monotonic() - started)
    results_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    write_report(results, ROOT / "BENCHMARKS.md")
    print(f"bench: wrote bench/results.json and BENCHMARKS.md in {round(time.monotonic() - started)} s")


if __name__ == "__main__":
    main()
