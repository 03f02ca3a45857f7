"""The site built from the shipped record, looked at as a person does: Chromium at 1366x900 opens each page's default
view and checks what shows first (the named speed columns inside the window, catalogue models, the compare pair, the
headline benchmark), and that a linked view comes back (skipped where no Chromium is installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_site import site_data, start_chromium

SHIPPED = Path(__file__).resolve().parent.parent / "results"
WIDTH, HEIGHT = 1366, 900


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium(WIDTH, HEIGHT)
    driver.set_window_size(WIDTH, HEIGHT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The whole shipped record as a site, built once for the module."""
    from harness.site.build import build_site

    out = tmp_path_factory.mktemp("shipped-site") / "site"
    build_site([SHIPPED], out)
    return out


def opened(browser, url: str, ready: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get("about:blank")
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: b.find_elements("css selector", ready))


def inside_window(browser, selector: str) -> None:
    """Every element the selector finds lies inside the window's width, and nothing on the page scrolls sideways."""
    width = browser.execute_script("return document.documentElement.clientWidth")
    for element in browser.find_elements("css selector", selector):
        assert element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width + 0.5, (selector, element.text)
    sideways = browser.execute_script(
        "return [document.documentElement, ...document.querySelectorAll('.scroll, .fit')]"
        ".filter((e) => e.scrollWidth > e.clientWidth + 1).length"
    )
    assert sideways == 0, selector


def headers(browser, table: str) -> list[str]:
    return [th.text.rstrip(" ▲▼") for th in browser.find_elements("css selector", f"#{table} thead th")]


def selected(browser, select: str) -> str:
    from selenium.webdriver.support.ui import Select

    return Select(browser.find_element("id", select)).first_selected_option.get_attribute("value")


def severe(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_leaderboard_opens_on_the_default_catalogue_model_with_named_speed_columns_in_the_window(browser, site):
    from harness.catalogue.models import load_catalog

    data = site_data(site)
    opened(browser, (site / "index.html").as_uri(), "#leaderboard tbody tr")
    model = selected(browser, "f-model")
    assert model == data["defaultModel"] and load_catalog().get(model) is not None
    names = headers(browser, "leaderboard")
    assert names == ["device", "backend", "memory GB", "price $", "pp512 t/s", "tg128 t/s", "source"]
    inside_window(browser, "#leaderboard thead th")
    inside_window(browser, "#leaderboard tbody tr:first-child td")
    top = [tr.find_elements("css selector", "td") for tr in browser.find_elements("css selector", "#leaderboard tbody tr")][:10]
    rates = [float(cells[5].text.removesuffix(" !")) for cells in top if cells[5].text]
    assert len(rates) >= 5 and rates == sorted(rates, reverse=True)  # the fastest devices first, in tg128
    assert all(cells[6].text.split()[0] in {"measured", "imported"} for cells in top)  # each says where it comes from
    shown = {row["device"] for row in data["rows"] if row["model"] == model and row["tests"]}
    assert all(cells[0].text.lstrip("▸▹ ").rsplit(" (", 1)[0] in shown for cells in top)
    models = [o.get_attribute("value") for o in browser.find_elements("css selector", "#f-model option")]
    assert {next(r["tier"] for r in data["rows"] if r["model"] == m) for m in models} != {"unlisted"}
    assert all(next(r["tier"] for r in data["rows"] if r["model"] == m) != "unlisted" for m in models)  # outside: hidden
    browser.save_screenshot(str(site / "leaderboard-1366.png"))
    assert not severe(browser)


def test_a_linked_leaderboard_view_comes_back(browser, site):
    url = (site / "index.html").as_uri() + "#model=llama-3.2-1b-q4_k_m&sort=pp&desc=1"
    opened(browser, url, "#leaderboard tbody tr")
    assert selected(browser, "f-model") == "llama-3.2-1b-q4_k_m"
    pp, tg = selected(browser, "f-pp"), selected(browser, "f-tg")
    assert pp.startswith("localscore pp") and tg.startswith("localscore tg")  # its only tests, each named in its column
    assert headers(browser, "leaderboard")[4:6] == [f"{pp} t/s", f"{tg} t/s"]
    assert browser.find_element("css selector", "#leaderboard thead th[aria-sort='descending']").get_attribute("data-key") == "pp"
    inside_window(browser, "#leaderboard thead th")
    opened(browser, (site / "index.html").as_uri() + "?model=gemma3-270m", "#leaderboard tbody tr")  # the query string too
    assert selected(browser, "f-model") == "gemma3-270m"


def test_compare_opens_on_dgx_spark_against_strix_halo(browser, site):
    opened(browser, (site / "compare.html").as_uri(), "#comparison tbody tr")
    assert (selected(browser, "c-a"), selected(browser, "c-b")) == ("dgx-spark", "ryzen-ai-max-395")
    assert headers(browser, "comparison") == ["model", "test", "A t/s", "A from", "B t/s", "B from", "B / A"]
    inside_window(browser, "#comparison thead th")
    assert "a=dgx-spark" in browser.current_url and "b=ryzen-ai-max-395" in browser.current_url
    opened(browser, (site / "compare.html").as_uri() + "#a=ryzen-ai-max-395&b=dgx-spark", "#comparison tbody tr")
    assert (selected(browser, "c-a"), selected(browser, "c-b")) == ("ryzen-ai-max-395", "dgx-spark")
    assert not severe(browser)


def test_buying_opens_on_the_default_model_with_filters_and_readable_figures(browser, site):
    from selenium.webdriver.support.ui import Select

    data = site_data(site)
    opened(browser, (site / "buying.html").as_uri(), "#buying tbody tr")
    assert selected(browser, "b-model") == data["defaultModel"]
    names = headers(browser, "buying")
    inside_window(browser, "#buying thead th")
    per_watt, per_dollar, price = names.index("tg128 t/s per W"), names.index("tg128 t/s per $1000"), names.index("price $")
    cells = [
        [td.text for td in tr.find_elements("css selector", "td")]
        for tr in browser.find_elements("css selector", "#buying tbody tr")
    ]
    assert all(float(row[per_watt]) > 0 for row in cells if row[per_watt])  # never 0.0
    assert all(float(row[per_dollar]) > 0 for row in cells if row[per_dollar])
    Select(browser.find_element("id", "b-budget")).select_by_value("1000")
    prices = [
        tr.find_elements("css selector", "td")[price].text for tr in browser.find_elements("css selector", "#buying tbody tr")
    ]
    assert prices and all(float(p) <= 1000 for p in prices)
    assert "budget=1000" in browser.current_url
    Select(browser.find_element("id", "b-memory")).select_by_value("24")
    assert all(
        float(tr.find_elements("css selector", "td")[5].text) >= 24
        for tr in browser.find_elements("css selector", "#buying tbody tr")
    )
    badges = browser.find_elements("css selector", "#buying tbody td[title^='basis: '] .badge")
    assert badges and {b.text for b in badges} <= {"measured", "converted", "predicted"}
    assert not severe(browser)


def test_frontier_leads_with_the_headline_benchmark_and_its_table_fits(browser, site):
    from harness.frontier.gap import HEADLINE_BENCHMARK

    opened(browser, (site / "frontier.html").as_uri(), "h2.benchmark")
    first = browser.find_elements("css selector", "h2.benchmark")[0]
    assert first.get_attribute("data-benchmark") == HEADLINE_BENCHMARK == "gpqa_diamond"
    assert first.text.startswith("GPQA Diamond")
    assert "months behind today" in browser.find_element("css selector", ".fit table").text
    inside_window(browser, ".fit th")
    inside_window(browser, ".fit td")


def test_machine_pages_say_none_for_no_gpu_and_tell_their_bars_apart(browser, site):
    import re

    pages = sorted((site / "machines").glob("*.html"))
    assert not [p.name for p in pages if "nan" in p.read_text().split("<h2>Speed</h2>")[0]]
    for page in pages:  # every page's bar labels, from its HTML
        labels = re.findall(r'<span class="bar-label"[^>]*>([^<]*)</span>', page.read_text())
        assert len(labels) == len(set(labels)), page.name
    for page in pages[:: max(1, len(pages) // 20)]:  # and some as the browser draws them
        browser.get(page.as_uri())
        labels = [label.get_attribute("textContent") for label in browser.find_elements("css selector", ".bar-label")]
        assert len(labels) == len(set(labels)), page.name
