"""The web console end to end in headless Chromium, checked against the HTTP API of the same server."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from .conftest import Console, hit_cells

pytestmark = pytest.mark.browser

SAMPLE_QUERIES = [
    "level:error",
    'message:"Failed to connect"',
    "resourceId:server-1234",
    "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
]


@pytest.mark.parametrize("query", SAMPLE_QUERIES)
def test_sample_query_shows_the_api_rows_and_total(console: Console, query: str) -> None:
    console.open()
    console.type_into("query", query)
    api = console.server.search(query, limit=100)
    assert console.total() == api["total"] > 0
    assert console.by_id("total").text == f"{api['total']:,} match{'es' if api['total'] != 1 else ''}"
    assert console.rows() == [hit_cells(hit) for hit in api["hits"]]
    assert parse_qs(urlsplit(console.driver.current_url).query)["q"] == [query]
    if query.startswith("message:"):
        assert set(console.marks()) == {"Failed to connect"}


def test_filters_combine_with_each_other_and_the_query(console: Console) -> None:
    console.open()
    console.type_into("query", 'message:"Failed to connect"')
    error_box = console.driver.find_element("css selector", 'input[name="level"][value="error"]')
    console.act(error_box.click)
    expected = console.server.search('(message:"Failed to connect") AND level:error')
    assert console.total() == expected["total"] > 0

    resource = expected["hits"][0]["resourceId"]
    console.type_into("f-resourceId", resource)
    expected = console.server.search(
        f'(message:"Failed to connect") AND level:error AND resourceId:"{resource}"')
    assert console.total() == expected["total"] > 0
    assert {row[2] for row in console.rows()} == {resource}
    url = parse_qs(urlsplit(console.driver.current_url).query)
    assert url["level"] == ["error"] and url["resourceId"] == [resource]

    # Every other filter field, each with a value taken from a real log: one log matches them all.
    console.by_id("clear-filters").click()
    hit = console.server.search("level:warn", limit=1)["hits"][0]
    console.type_into("query", "")
    parent = hit["metadata"]["parentResourceId"]
    for box, value in (("f-traceId", hit["traceId"]), ("f-spanId", hit["spanId"]),
                       ("f-commit", hit["commit"]), ("f-parentResourceId", parent)):
        console.type_into(box, value, submit=False)
    console.type_into("f-message", hit["message"])
    assert console.total() == 1
    assert console.rows() == [hit_cells(hit)]


def test_time_range_picker(console: Console) -> None:
    console.open("?q=level:error")
    console.type_into("f-from", "2023-09-10T00:00:00Z", submit=False)
    console.type_into("f-to", "2023-09-15T23:59:59Z")
    expected = console.server.search("level:error", start="2023-09-10T00:00:00Z", end="2023-09-15T23:59:59Z")
    assert console.total() == expected["total"] > 0
    assert all("2023-09-10" <= row[0][:10] <= "2023-09-15" for row in console.rows())

    buttons = console.driver.find_elements("css selector", ".quick button")
    quick = {b.get_attribute("data-range"): b for b in buttons}
    console.act(quick["15m"].click)
    assert console.by_id("f-from").get_attribute("value") == "now-15m"
    assert quick["15m"].get_attribute("aria-pressed") == "true"
    start = (datetime.now(UTC) - timedelta(minutes=15)).isoformat()
    assert console.total() == console.server.search("level:error", start=start)["total"]
    assert "from=now-15m" in console.driver.current_url

    for name in ("1h", "24h", "7d"):
        console.act(quick[name].click)
        assert console.by_id("f-from").get_attribute("value") == f"now-{name}"
    console.act(quick["all"].click)
    assert console.by_id("f-from").get_attribute("value") == ""
    assert console.total() == console.server.search("level:error")["total"]


def test_histogram_is_stacked_by_level_and_drag_zooms(console: Console) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    console.open("?q=level:error OR level:fatal")
    total = console.total()
    chart = console.wait_until(lambda: console.driver.execute_script(
        "return histogram.data && {levels: histogram.data.levels,"
        " sum: histogram.data.buckets.reduce((n, b) => n + b.total, 0)}"), what="the histogram")
    assert chart["levels"] == ["fatal", "error"]
    assert chart["sum"] == total
    legend = console.by_id("histogram-legend").text
    assert "fatal" in legend and "error" in legend

    canvas = console.by_id("histogram")
    width = canvas.size["width"]
    chain = ActionChains(console.driver)
    chain.move_to_element_with_offset(canvas, -width // 4, 0).click_and_hold()
    chain.move_by_offset(width // 4, 0).release()
    console.act(chain.perform)
    start = console.by_id("f-from").get_attribute("value")
    end = console.by_id("f-to").get_attribute("value")
    assert start.startswith("2023-09") and end.startswith("2023-09") and start < end
    zoomed = console.server.search("level:error OR level:fatal", start=start, end=end)
    assert 0 < console.total() == zoomed["total"] < total


def test_row_expands_to_its_json_and_shows_surrounding_logs(console: Console) -> None:
    busiest = httpx.get(f"{console.server.url}/api/v1/fields/resourceId/values", params={"top": 1}).json()
    query = f'resourceId:="{busiest["values"][0]["value"]}"'
    hits = console.server.search(query, limit=100)["hits"]
    assert len(hits) >= 13
    console.open("?" + urlencode({"q": query}))
    console.driver.find_elements("css selector", "#hits-body tr.hit")[7].click()
    detail = console.driver.find_element("css selector", "#hits-body tr.detail pre.json")
    assert json.loads(detail.text) == hits[7]

    console.driver.find_element("css selector", "#hits-body tr.detail .context-button").click()
    context = console.wait_until(lambda: console.driver.execute_script(
        "const d = document.getElementById('context'); if (!d.open) return null;"
        "const rows = [...d.querySelectorAll('tr.hit')];"
        "return rows.length ? rows.map(tr => ({cells: [...tr.cells].map(td => td.textContent),"
        " anchor: tr.classList.contains('anchor')})) : null"), what="the surrounding logs")
    # Oldest first: the five older logs of that resource, the hit itself, the five newer ones.
    assert [r["cells"] for r in context] == [hit_cells(h) for h in reversed(hits[2:13])]
    assert [i for i, r in enumerate(context) if r["anchor"]] == [5]
    console.driver.find_element("css selector", "#context .context-head button").click()
    assert not console.driver.execute_script("return document.getElementById('context').open")


def test_field_values_add_a_filter(console: Console) -> None:
    console.open("?q=message:connect")
    console.driver.find_element("css selector", '#field-list li[data-field="level"] .field-name').click()
    values = console.wait_until(lambda: console.driver.execute_script(
        "return [...document.querySelectorAll('#field-list li[data-field=\"level\"] .value')]"
        ".map(b => [b.querySelector('.value-text').textContent, b.querySelector('.count').textContent])"),
        what="the level values")
    api = httpx.get(f"{console.server.url}/api/v1/fields/level/values",
                    params={"q": "message:connect", "top": 10}).json()["values"]
    assert values == [[v["value"], f"{v['count']:,}"] for v in api]

    error = console.driver.find_element(
        "xpath", '//li[@data-field="level"]//button[@class="value"][span[@class="value-text"]="error"]')
    console.act(error.click)
    box = console.driver.find_element("css selector", 'input[name="level"][value="error"]')
    assert box.is_selected()
    assert console.total() == console.server.search("(message:connect) AND level:error")["total"]


def test_load_more_appends_the_next_page(console: Console) -> None:
    console.open("?q=level:info")
    assert len(console.rows()) == 100
    console.act(console.by_id("more").click)
    first = console.server.search("level:info", limit=100)
    second = console.server.search("level:info", limit=100, cursor=first["next_cursor"])
    assert console.rows() == [hit_cells(h) for h in first["hits"] + second["hits"]]
    assert console.total() == first["total"]


def test_bad_query_shows_its_error_at_the_column(console: Console) -> None:
    console.open("?level=error")  # a filter is on: the column must still be the one in the typed text
    console.type_into("query", "level:")
    error = console.by_id("query-error")
    assert error.is_displayed()
    assert console.by_id("query-error-caret").text.split("\n") == ["level:", " " * 6 + "^"]
    assert "column 7" in console.by_id("query-error-message").text
    assert console.rows() == []
    assert console.by_id("query").get_attribute("aria-invalid") == "true"
    console.type_into("query", "level:error")
    assert not error.is_displayed()


def test_the_url_holds_the_whole_search(console: Console) -> None:
    console.open("?q=message:connect&level=error,fatal&resourceId=server-0*&from=2023-09-05&to=2023-09-20&tz=local")
    assert console.by_id("query").get_attribute("value") == "message:connect"
    assert console.by_id("f-resourceId").get_attribute("value") == "server-0*"
    checked = console.driver.execute_script(
        "return [...document.querySelectorAll('input[name=level]:checked')].map(b => b.value)")
    assert checked == ["fatal", "error"]
    # Local time is Asia/Kolkata (UTC+05:30): the day boundaries move with it.
    expected = console.server.search(
        "(message:connect) AND (level:fatal OR level:error) AND resourceId:server-0*",
        start="2023-09-04T18:30:00Z", end="2023-09-19T18:30:00Z")
    assert console.total() == expected["total"] > 0
    shared = console.driver.current_url
    console.driver.get("about:blank")
    console.driver.get(shared)
    console.wait_search(0)
    assert console.total() == expected["total"]
    console.driver.back()  # back to about:blank and forward again: history restores the search
    console.driver.forward()
    console.wait_search(0)
    assert console.total() == expected["total"]


def test_times_switch_between_utc_and_local_with_the_zone_shown(console: Console) -> None:
    console.open("?q=resourceId:server-1234")
    hit = console.server.search("resourceId:server-1234", limit=1)["hits"][0]
    header = console.by_id("time-header")
    assert header.text == "Time (UTC)"
    assert console.rows()[0][0] == hit_cells(hit)[0]
    console.by_id("tz-local").click()
    # Chromium may name the zone by its older alias, Asia/Calcutta.
    assert header.text in ("Time (Asia/Kolkata, UTC+05:30)", "Time (Asia/Calcutta, UTC+05:30)")
    utc = datetime.fromisoformat(hit["timestamp"].replace("Z", "+00:00"))
    local = (utc + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert console.rows()[0][0].startswith(local)
    assert "tz=local" in console.driver.current_url
    console.by_id("tz-utc").click()
    assert header.text == "Time (UTC)"
    assert console.rows()[0][0] == hit_cells(hit)[0]


def test_live_tail_shows_a_log_posted_during_the_test(console: Console) -> None:
    tag = "t" + uuid.uuid4().hex
    console.open(f"?q=tag:{tag}")
    assert console.total() == 0
    console.by_id("live").click()
    console.wait_until(lambda: "waiting" in console.by_id("live-status").text, what="the live stream")
    hostile = '<img src=x onerror="window.__pwned = 1"><b>bold</b>'

    def post(n: int) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        console.server.post(json.dumps({"level": "error", "message": f"live {n} {hostile}", "tag": tag,
                                        "resourceId": "server-4242", "timestamp": now}).encode())

    # EventSource reports "open" once the response starts; the server subscribes a moment later, so a
    # log posted at once could come before the subscription. Post again until one arrives.
    for n in range(10):
        post(n)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and not console.rows():
            time.sleep(0.05)
        if console.rows():
            break
    rows = console.rows()
    assert rows and rows[0][1:] == ["error", "server-4242", f"live {n} {hostile}"]
    assert "new" in console.by_id("live-status").text
    assert console.driver.execute_script(
        "return document.querySelectorAll('#hits-body img, #hits-body b').length") == 0
    assert console.driver.execute_script("return window.__pwned") is None
    post(99)
    console.wait_until(lambda: console.rows()[0][3].startswith("live 99"), what="the second live log")
    console.by_id("live").click()
    assert not console.by_id("live-status").is_displayed()


def test_screenshot(console: Console, screenshot_dir: Path) -> None:
    console.open('?q=message:"Failed to connect"&level=error,fatal')
    console.driver.find_elements("css selector", "#hits-body tr.hit")[0].click()
    console.driver.find_element("css selector", '#field-list li[data-field="level"] .field-name').click()
    console.wait_until(lambda: console.driver.find_elements("css selector", "#field-list .value"))
    path = screenshot_dir / "console.png"
    assert console.driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"console screenshot: {path}")


def test_no_javascript_errors_in_the_whole_session(console: Console) -> None:
    # Runs last: the browser log holds every entry since the session started (400s of bad queries are
    # network entries, not JavaScript errors).
    console.open("?q=level:warn")
    errors = [e for e in console.driver.get_log("browser") if e["source"] == "javascript"]
    assert errors == []
