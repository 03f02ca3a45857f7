"""The site served live by `meek serve` with real parts: the service started as `meek serve --import` over a real SQLite
file (tests/test_service.py's Server), its pages driven in headless Chromium as tests/test_site.py drives the static
site (same browser, same skip rules): the leaderboard at /, a machine page and the compare page, a submission showing
up after a rebuild, paths outside the build refused, an empty record saying so, and the JSON description at /api/v1."""

from __future__ import annotations

import http.client
import json
import os
import stat
import time
from pathlib import Path

import pytest

from tests.test_service import Server
from tests.test_site import assert_compare_page_pairs_only_the_same_test, chosen_tests, expected_devices, shown_devices
from tests.test_site import browser as chromium  # noqa: F401  (test_site's Chromium fixture and skip rules)

IMPORTED = 8


@pytest.fixture(scope="module")
def browser(request):
    return request.getfixturevalue("chromium")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    from tests.example_tree import generate

    tree = tmp_path_factory.mktemp("site-import") / "results"
    generate(tree, count=IMPORTED, seed=261, machines_per_device=1)
    return tree


@pytest.fixture(scope="module")
def live(meek_home, imported, tmp_path_factory):
    """`meek serve --import` of a small tree, rebuilding its pages as soon as a result arrives."""
    folder = tmp_path_factory.mktemp("serve-site")
    server = Server(f"sqlite:///{folder}/record.db", folder, "--import", str(imported), "--rebuild-every", "0")
    server.start()
    yield server
    server.stop()


def severe(browser) -> list[dict]:
    """Console errors, less the browser's own request for /favicon.ico (the site has none; a file:// page never asks)."""
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def open_leaderboard(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url if "#" in url else url + "/")
    WebDriverWait(browser, 30).until(lambda b: b.find_elements("css selector", "#leaderboard tbody tr"))


def site_data(folder: Path) -> dict:
    return json.loads((folder / "assets" / "data.js").read_text().removeprefix("window.MEEK_DATA = ").rstrip(";\n"))


def written_data(*trees: Path) -> dict:
    """The data of the static site `meek report`'s code writes from these files."""
    import tempfile

    from harness.aggregate.tree import load_tree
    from harness.site.build import write_site

    with tempfile.TemporaryDirectory() as folder:
        write_site(load_tree(list(trees)), Path(folder), frontier_benchmarks=())
        return site_data(Path(folder))


def expected_rows(browser, *trees: Path) -> set[str]:
    """The devices the leaderboard's view the browser shows (its model and tests) holds, from these files."""
    from selenium.webdriver.support.ui import Select

    model = Select(browser.find_element("id", "f-model")).first_selected_option.get_attribute("value")
    return expected_devices(written_data(*trees), model, chosen_tests(browser))


def test_leaderboard_at_root_shows_the_imported_record(browser, live, imported):
    open_leaderboard(browser, live.url)
    assert browser.find_element("css selector", "h1").text == "Leaderboard"
    from selenium.webdriver.support.ui import Select

    model = Select(browser.find_element("id", "f-model")).first_selected_option.get_attribute("value")
    assert model == written_data(imported)["defaultModel"]  # the default view, as on the static site
    wanted = expected_rows(browser, imported)
    assert wanted and shown_devices(browser) == wanted
    assert browser.find_element("id", "count").text.startswith(f"{len(wanted)} device(s) ran ")
    footer = browser.find_element("css selector", "footer").text
    assert f"the record at {live.db}, {IMPORTED} results, built " in footer and " UTC" in footer
    assert not browser.find_elements("id", "empty")
    assert severe(browser) == []


def test_machine_compare_buying_and_frontier_pages_load(browser, live, imported):
    from selenium.webdriver.support.ui import WebDriverWait

    open_leaderboard(browser, live.url)
    browser.find_element("css selector", "#leaderboard tbody tr.expandable").click()  # a device lists its machines
    link = browser.find_element("css selector", "#leaderboard tr.detail a")
    machine = link.text
    link.click()
    assert browser.current_url == f"{live.url}/machines/{machine}.html"
    assert browser.find_element("css selector", "h1").text == f"Machine {machine}"
    assert browser.find_elements("css selector", ".bar-row")
    assert "the record at" in browser.find_element("css selector", "footer").text
    browser.get(live.url + "/compare.html")
    WebDriverWait(browser, 30).until(lambda b: b.find_element("id", "c-count").text)
    assert_compare_page_pairs_only_the_same_test(browser, imported)  # the pair it opens on, against compare's own code
    for page, title in (("buying.html", "Buying guide"), ("frontier.html", "Frontier")):
        browser.get(f"{live.url}/{page}")
        assert browser.find_element("css selector", "h1").text == title
    assert browser.find_element("css selector", "main img.figure").get_attribute("naturalWidth") != "0"  # assets/ served
    assert severe(browser) == []


def every_pair(*trees: Path) -> set[tuple[str, str]]:
    """(model, device) of every leaderboard view's rows the static site written from these files holds."""
    return {(row["model"], row["device"] or row["machine"]) for row in written_data(*trees)["rows"] if row["tests"]}


def test_a_submitted_result_shows_on_the_leaderboard(browser, live, imported, tmp_path):
    from harness.results.validate import result_files
    from tests.example_tree import generate

    generate(tmp_path / "more", count=12, seed=262, machines_per_device=1)
    before = every_pair(imported)
    new = next(path for path in result_files([tmp_path / "more"]) if not every_pair(imported, path) <= before)
    model, device = sorted(every_pair(imported, new) - before)[0]
    answer = live.post(new.read_text())
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + 90
    while True:  # the previous build is served until the new one is complete
        open_leaderboard(browser, f"{live.url}/#model={model}&all=1")  # the view of the new file's model, as linked
        if device in shown_devices(browser) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert shown_devices(browser) == expected_devices(written_data(imported, new), model, chosen_tests(browser))
    assert device in shown_devices(browser)
    assert f"{IMPORTED + 1} results, built" in browser.find_element("css selector", "footer").text


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET the path exactly as written (httpx and browsers fold `..` before sending)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../etc/passwd",
        "/assets/../../../../../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/machines/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/..%5c..%5c..%5cetc%5cpasswd",
        "//etc/passwd",
        "/assets/%00data.js",
        "/machines/",
        "/no-such-page.html",
        "/api/v1/no-such-thing",
    ],
)
def test_paths_outside_the_build_are_404(live, path):
    status, body = raw_get(live.url, path)
    assert status == 404, (path, body[:200])
    assert b"root:" not in body


def test_assets_and_pages_are_served_with_their_types(live):
    index = live.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert live.get("/index.html").text == index.text
    data = live.get("/assets/data.js")
    assert data.status_code == 200 and "javascript" in data.headers["content-type"]
    assert data.text.startswith("window.MEEK_DATA = ")
    assert live.get("/assets/style.css").headers["content-type"].startswith("text/css")


def test_api_description_moved_to_api_v1_and_docs_keep_working(live):
    description = live.get("/api/v1")
    assert description.status_code == 200
    assert description.json()["api"] == "/api/v1" and description.json()["docs"] == "/docs"
    assert live.get("/docs").status_code == 200
    paths = set(live.get("/openapi.json").json()["paths"])
    assert "/api/v1" in paths and "/api/v1/results" in paths
    assert not any(not path.startswith("/api/") for path in paths)  # the pages are not in the schema


def test_an_empty_record_says_so_and_its_folder_goes_with_it(browser, meek_home, tmp_path):
    server = Server(f"sqlite:///{tmp_path}/empty.db", tmp_path, "--rebuild-every", "0").start()
    try:
        browser.get(server.url + "/")
        note = browser.find_element("id", "empty").text
        assert note.startswith("No results yet: submit one with meek submit FILE --url")
        assert not browser.find_elements("css selector", "#leaderboard tbody tr")
        assert "0 results" in browser.find_element("css selector", "footer").text
        browser.get(server.url + "/compare.html")
        assert browser.find_element("id", "empty").text == note
        assert severe(browser) == []
        private = [p for p in tmp_path.iterdir() if p.name.startswith("meek-site-")]  # under the server's TMPDIR
        assert len(private) == 1 and stat.S_IMODE(os.stat(private[0]).st_mode) == 0o700
    finally:
        server.stop()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("meek-site-")]  # removed at shutdown


def test_report_on_an_empty_tree_says_so(run_meek, tmp_path):
    (tmp_path / "results").mkdir()
    code, _, err = run_meek("report", "--results-dir", str(tmp_path / "results"), "--out", str(tmp_path / "site"))
    assert code == 0, err
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'id="empty">No results yet: run meek bench' in index
    assert site_data(tmp_path / "site")["rows"] == []
