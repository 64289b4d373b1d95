"""Fixtures of the web console tests: a real server with generated logs, and headless Chromium driven by
Selenium (Debian's `chromium` and `chromium-driver`, installed by scripts/install-chromium.sh)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live_server import ServerProcess, generate_ndjson

LOG_COUNT = 3000
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A zone with a half-hour offset and no daylight saving: a wrong local/UTC conversion cannot pass unseen.
BROWSER_TZ = "Asia/Kolkata"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1400,900",
)

if os.environ.get("STRATA_REQUIRE_BROWSER"):  # `make test` installed selenium with the test extra
    from selenium import webdriver
else:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install selenium")


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    live = ServerProcess(tmp_path_factory.mktemp("console") / "data").start()
    live.post(generate_ndjson(LOG_COUNT))
    yield live
    live.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        missing = "chromium and chromedriver are missing: run scripts/install-chromium.sh"
        if os.environ.get("STRATA_REQUIRE_BROWSER"):  # set by `make test`, which installs them first
            pytest.fail(missing)
        pytest.skip(missing)  # a bare `pytest` on a machine without them still runs everything else
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="strata-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # lets a test read JavaScript errors
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_TZ})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Console:
    """The page as a test sees it: open, type, wait for the search to land, read the table."""

    def __init__(self, driver: webdriver.Chrome, server: ServerProcess) -> None:
        self.driver = driver
        self.server = server

    def searches(self) -> int:
        return int(self.driver.execute_script("return Number(document.body.dataset.searches || 0)"))

    def wait_until(self, predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    def wait_search(self, before: int) -> None:
        """Wait until a search started after `before` has finished (done or error)."""
        self.wait_until(lambda: self.searches() > before and self.driver.execute_script(
            "return document.body.dataset.searchState") != "loading", what="the search")

    def open(self, query_string: str = "") -> None:
        self.driver.get(self.server.url + "/" + query_string)
        self.wait_search(0)

    def act(self, action: Callable[[], object]) -> None:
        """Run `action` (a click, Enter in a box) and wait for the search it starts."""
        before = self.searches()
        action()
        self.wait_search(before)

    def by_id(self, element_id: str):  # -> a Selenium WebElement
        return self.driver.find_element("id", element_id)

    def type_into(self, element_id: str, text: str, submit: bool = True) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.by_id(element_id)
        box.clear()
        if not submit:
            box.send_keys(text)
            return
        self.act(lambda: box.send_keys(text + Keys.ENTER))

    def total(self) -> int | None:
        value = self.driver.execute_script("return document.getElementById('total').dataset.total")
        return None if value in (None, "") else int(value)

    def rows(self) -> list[list[str]]:
        """The text of each hit row's cells: time, level, resourceId, message."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#hits-body tr.hit')]"
            ".map(tr => [...tr.cells].map(td => td.textContent))")

    def marks(self) -> list[str]:
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#hits-body mark')].map(m => m.textContent)")


@pytest.fixture
def console(browser: webdriver.Chrome, console_server: ServerProcess) -> Console:
    return Console(browser, console_server)


def hit_cells(hit: dict) -> list[str]:
    """What a row shows for `hit`, times in UTC."""
    ts = hit["timestamp"]
    shown = ts[:10] + " " + ts[11:19] + "." + (ts[20:23] if ts[19] == "." else "000")
    message = hit["message"] if isinstance(hit.get("message"), str) else json.dumps(hit.get("message"))
    return [shown, hit["level"], hit["resourceId"], message]


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="strata-console-"))
