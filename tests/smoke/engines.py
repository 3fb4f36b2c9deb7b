"""One browser engine behind one small interface, for the three-engine smoke suite.

- `Chromium`: Debian's `chromium` through Playwright (as tests/e2e).
- `Firefox`: Debian's `firefox-esr`, started here with `--marionette --headless`
  on a new profile directory and driven over Marionette (`marionette-driver`;
  geckodriver is not packaged).
- `WebKit`: Debian's WebKitGTK (`webkit2gtk-driver`: `/usr/bin/WebKitWebDriver`,
  which runs WebKitGTK's MiniBrowser in automation mode) under `Xvfb`, through
  Selenium's WebKitGTK driver. Selenium Manager is never run: the driver's path
  is given, `SE_OFFLINE=true`, and `SE_MANAGER_PATH` names no file, so any call
  to it would fail loudly instead of downloading.

Every engine sends whatever is not for 127.0.0.1 to an `OutsideTrap` (a proxy
that records the request and answers nothing), browser-level background
requests included; `Engine.outside` lists them.

`evaluate(js)` takes a JS *expression* (a promise is awaited) and returns its
value through `JSON.stringify`, so every engine answers the same JSON values.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.browser import CHROMIUM_FLAGS
from tests.support.stub import free_port, wait_until

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FIREFOX = os.environ.get("FIREFOX") or shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
WEBKIT_DRIVER = os.environ.get("WEBKIT_DRIVER") or "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
XVFB = shutil.which("Xvfb") or "/usr/bin/Xvfb"

# The expression's value as JSON text, or the error's text: the one wrapper every
# engine runs (as an async script: `done` is WebDriver's callback argument).
ASYNC_EVAL = """
const done = arguments[arguments.length - 1];
Promise.resolve().then(() => (%s)).then(
  (value) => done(JSON.stringify({value: value === undefined ? null : value})),
  (error) => done(JSON.stringify({error: (error && error.name ? error.name + ': ' + error.message : String(error))
    + (error && error.stack ? String.fromCharCode(10) + error.stack : '')})));
"""


class EngineError(AssertionError):
    pass


class OutsideTrap:
    """An HTTP proxy on 127.0.0.1 that every engine is told to use for anything
    but 127.0.0.1: it records the request line (`CONNECT host:443`, `GET http://...`)
    and closes the connection, so nothing leaves the machine and every attempt is seen."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="outside-trap")
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    line = "(no request line)"
                self.requests.append(line)
                try:
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._server.close()


def trap_host(request_line: str) -> str:
    """'CONNECT host:443 HTTP/1.1' or 'GET http://host/path HTTP/1.1' -> 'host'."""
    parts = request_line.split(" ")
    target = parts[1] if len(parts) > 1 else ""
    if "://" in target:
        target = target.split("://", 1)[1].split("/", 1)[0]
    return target.rsplit(":", 1)[0] if target.count(":") == 1 else target


class Engine:
    """One browser of one engine, one tab at a time. Subclasses implement the
    driver calls; `wait_for` and the JSON wrapper are shared."""

    name = "?"
    script_timeout = 60.0  # seconds one evaluate() may take (WebDriver's script timeout)
    # Hosts the browser itself calls (updates, accounts), never the page: the trap
    # still catches them (nothing leaves), the suite reports them but does not fail.
    BROWSER_SERVICES: tuple = ()

    def __init__(self, trap: OutsideTrap, workdir: Path) -> None:
        self.trap = trap
        self.workdir = workdir

    # -- driver-specific ---------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def new_profile(self) -> None:
        """Forget everything: cookies, storage, HTTP cache; a new tab on about:blank."""
        raise NotImplementedError

    def open(self, url: str) -> None:
        """Navigate the tab to `url` (returns once the navigation has committed or loaded)."""
        raise NotImplementedError

    def _run_async(self, script: str) -> str:
        raise NotImplementedError

    def fill(self, selector: str, value: str) -> None:
        raise NotImplementedError

    def click(self, selector: str) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def version(self) -> str:
        return str(self.evaluate("navigator.userAgent"))

    # -- shared --------------------------------------------------------------------------
    @property
    def outside(self) -> list[str]:
        """Requests for anywhere but 127.0.0.1 that this engine attempted, less
        those for its own BROWSER_SERVICES."""
        return [r for r in self.trap.requests if trap_host(r) not in self.BROWSER_SERVICES]

    @property
    def browser_services(self) -> list[str]:
        """The hosts of BROWSER_SERVICES that the browser tried to reach."""
        return sorted({trap_host(r) for r in self.trap.requests} & set(self.BROWSER_SERVICES))

    def evaluate(self, js: str) -> Any:
        """The value of the JS expression `js` (awaited), as JSON values."""
        answer = json.loads(self._run_async(ASYNC_EVAL % js))
        if "error" in answer:
            raise EngineError(f"{self.name}: {js!r} raised {answer['error']}")
        return answer["value"]

    def wait_for(self, js_condition: str, timeout: float = 30.0, what: str | None = None) -> Any:
        """Poll the expression until it is truthy; its value."""
        what = what or f"{self.name}: {js_condition}"
        return wait_until(lambda: self.evaluate(js_condition), timeout=timeout, interval=0.1, what=what)


# -- Chromium (Playwright) -------------------------------------------------------------------


# What Playwright 1.65 passes as --disable-features (its chromiumSwitches.ts).
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
)


class Chromium(Engine):
    name = "chromium"
    # Debian's Chromium with Playwright's switches (which already disable most
    # background networking) still calls these: component and extension updates,
    # network time, Google accounts.
    BROWSER_SERVICES = ("update.googleapis.com", "accounts.google.com", "clients2.google.com", "redirector.gvt1.com")

    def start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Anything not for loopback goes to the trap (Chromium never proxies loopback).
            args=[
                *CHROMIUM_FLAGS,
                f"--proxy-server=http://127.0.0.1:{self.trap.port}",
                # Playwright's own --disable-features list (a second switch replaces it) and autofill's server.
                "--disable-features=" + ",".join((*PLAYWRIGHT_DISABLED_FEATURES, "AutofillServerCommunication")),
                "--disable-client-side-phishing-detection",
                "--disable-domain-reliability",
                "--no-pings",
            ],
        )
        self._context = None
        self.new_profile()

    def new_profile(self) -> None:
        if self._context is not None:
            self._context.close()
        # A new context: its own cookies, storage and HTTP cache, in memory.
        self._context = self._browser.new_context(viewport={"width": 1100, "height": 800})
        self._page = self._context.new_page()

    def open(self, url: str) -> None:
        self._page.goto(url, wait_until="commit")

    def _run_async(self, script: str) -> str:
        # Playwright has no async-script call: give the wrapper its callback.
        return self._page.evaluate("() => new Promise((done) => { (function () {" + script + "}).call(null, done); })")

    def fill(self, selector: str, value: str) -> None:
        self._page.fill(selector, value)

    def click(self, selector: str) -> None:
        self._page.click(selector)

    def reload(self) -> None:
        self._page.reload(wait_until="commit")

    def version(self) -> str:
        return f"Chromium {self._browser.version}"

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()


# -- Firefox ESR (Marionette) ----------------------------------------------------------------

FIREFOX_PREFS: dict[str, Any] = {
    # Marionette applies its recommended prefs (no updates, telemetry, safe
    # browsing, remote settings...); the proxy catches anything they miss.
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.no_proxies_on": "127.0.0.1",
    "network.proxy.allow_hijacking_localhost": False,
    "network.proxy.share_proxy_settings": True,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.newtabpage.enabled": False,
    # Media plug-in (Widevine, OpenH264) downloads: Mozilla's list, then Google's updater.
    "media.gmp-manager.url": "",
    "media.gmp-manager.chromium-update-url": "",
    "media.gmp-provider.enabled": False,
    "media.gmp-widevinecdm.enabled": False,
    "media.gmp-widevinecdm.visible": False,
    "media.gmp-widevinecdm.allow-chromium-update": False,
    "media.gmp-gmpopenh264.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "dom.push.serverURL": "",
    # Marionette sets these too, but only once it runs: remote settings sync earlier.
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "app.normandy.api_url": "",
    "browser.region.network.url": "",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.server": "",
}

CLEAR_ALL_DATA = """
const done = arguments[arguments.length - 1];
Services.clearData.deleteData(Ci.nsIClearDataService.CLEAR_ALL, () => done(true));
"""


class Firefox(Engine):
    name = "firefox"

    def start(self) -> None:
        from marionette_driver.marionette import Marionette

        self.profile = Path(tempfile.mkdtemp(prefix="firefox-profile-", dir=self.workdir))
        port = free_port()
        prefs = {**FIREFOX_PREFS, "marionette.port": port}
        prefs["network.proxy.http_port"] = prefs["network.proxy.ssl_port"] = self.trap.port
        lines = [f"user_pref({json.dumps(name)}, {json.dumps(value)});\n" for name, value in prefs.items()]
        (self.profile / "user.js").write_text("".join(lines))
        self._log = open(self.workdir / "firefox.log", "ab")
        self._process = subprocess.Popen(
            [FIREFOX, "--marionette", "--headless", "--no-remote", "--remote-allow-system-access", "-profile", str(self.profile)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # A release build ignores services.settings.server unless told it may use another one.
            env={**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"},
        )
        self._marionette = Marionette(host="127.0.0.1", port=port)
        self._marionette.raise_for_port(timeout=60)
        self._marionette.start_session()

    def new_profile(self) -> None:
        m = self._marionette
        with m.using_context(m.CONTEXT_CHROME):
            m.execute_async_script(CLEAR_ALL_DATA, sandbox="system")
        old = m.window_handles
        m.switch_to_window(m.open(type="tab")["handle"])
        new = m.current_window_handle
        for handle in old:
            m.switch_to_window(handle)
            m.close()
        m.switch_to_window(new)

    def open(self, url: str) -> None:
        self._marionette.navigate(url)

    def _run_async(self, script: str) -> str:
        # sandbox=None: the page's own globals (window.pyodideBoot), not an Xray view.
        return self._marionette.execute_async_script(script, sandbox=None, script_timeout=int(self.script_timeout * 1000))

    def _element(self, selector: str):
        from marionette_driver.by import By

        return self._marionette.find_element(By.CSS_SELECTOR, selector)

    def fill(self, selector: str, value: str) -> None:
        element = self._element(selector)
        element.clear()
        element.send_keys(value)

    def click(self, selector: str) -> None:
        self._element(selector).click()

    def reload(self) -> None:
        self._marionette.refresh()

    def version(self) -> str:
        return f"Firefox {self._marionette.session_capabilities.get('browserVersion')}"

    def close(self) -> None:
        try:
            self._marionette.delete_session()
        except Exception:
            pass
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._log.close()


# -- WebKitGTK (Selenium + WebKitWebDriver) -------------------------------------------------


def start_xvfb(log) -> tuple[subprocess.Popen, str]:
    """Xvfb on a display number it picks itself (-displayfd); (process, ":N")."""
    read, write = os.pipe()
    process = subprocess.Popen(
        [XVFB, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        raise EngineError("Xvfb did not start")
    return process, f":{number}"


# Sessions tried (each on a new Xvfb and driver) before WebKit is reported broken.
SESSION_ATTEMPTS = 2


class WebKit(Engine):
    name = "webkit"

    def start(self) -> None:
        os.environ["SE_OFFLINE"] = "true"
        os.environ["SE_MANAGER_PATH"] = str(self.workdir / "no-selenium-manager")  # any call fails loudly
        self._log = open(self.workdir / "webkit.log", "ab")
        self._driver = None
        self._start_display_and_driver()
        self.new_profile()

    def _start_display_and_driver(self) -> None:
        from selenium.webdriver.webkitgtk.service import Service

        self._xvfb, display = start_xvfb(self._log)
        env = {**os.environ, "DISPLAY": display, "GDK_BACKEND": "x11"}
        # Started once; each profile is one automation session (a MiniBrowser process).
        self._service = Service(executable_path=WEBKIT_DRIVER, env=env, log_output=self._log)
        self._service.start()

    def _stop_display_and_driver(self) -> None:
        try:
            self._service.stop()
        finally:
            self._xvfb.terminate()
            self._xvfb.wait(timeout=10)

    def _options(self):
        from selenium.webdriver.webkitgtk.options import Options

        options = Options()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        options.add_argument(f"--proxy=http://127.0.0.1:{self.trap.port}")
        options.add_argument("--ignore-host=127.0.0.1")
        return options

    def new_profile(self) -> None:
        # MiniBrowser's automation sessions keep their data in memory: a new
        # session is a new, empty profile.
        from selenium import webdriver
        from selenium.webdriver.remote.client_config import ClientConfig

        if self._driver is not None:
            self._driver.quit()
            self._driver = None
        for attempt in range(SESSION_ATTEMPTS):
            # Without a timeout a session whose MiniBrowser never came up (seen once:
            # "cannot open display" on a display Xvfb had just announced) waits for
            # ever; each command gets longer than the longest script.
            config = ClientConfig(self._service.service_url, timeout=int(self.script_timeout) + 30)
            try:
                self._driver = webdriver.Remote(
                    command_executor=self._service.service_url, options=self._options(), client_config=config
                )
                break
            except Exception as error:  # a WebDriver error, or urllib3's timeout
                self._log.write(f"webkit: no session ({type(error).__name__}); restarting Xvfb and the driver\n".encode())
                self._log.flush()
                self._stop_display_and_driver()
                if attempt == SESSION_ATTEMPTS - 1:
                    raise EngineError(f"WebKitWebDriver opened no session in {SESSION_ATTEMPTS} attempts: {error}") from error
                self._start_display_and_driver()
        self._driver.set_script_timeout(self.script_timeout)

    def open(self, url: str) -> None:
        self._driver.get(url)

    def _run_async(self, script: str) -> str:
        self._driver.set_script_timeout(self.script_timeout)
        return self._driver.execute_async_script(script)

    def _element(self, selector: str):
        from selenium.webdriver.common.by import By

        return self._driver.find_element(By.CSS_SELECTOR, selector)

    def fill(self, selector: str, value: str) -> None:
        element = self._element(selector)
        element.clear()
        element.send_keys(value)

    def click(self, selector: str) -> None:
        self._element(selector).click()

    def reload(self) -> None:
        self._driver.refresh()

    def version(self) -> str:
        return f"WebKitGTK {self._driver.capabilities.get('browserVersion')}"

    def close(self) -> None:
        try:
            if self._driver is not None:
                self._driver.quit()
        finally:
            try:
                self._stop_display_and_driver()
            finally:
                self._log.close()


ENGINES = {"chromium": Chromium, "firefox": Firefox, "webkit": WebKit}


def launch(name: str, trap: OutsideTrap, workdir: Path) -> Engine:
    engine = ENGINES[name](trap, workdir)
    started = time.monotonic()
    engine.start()
    engine.started_in = time.monotonic() - started
    return engine
