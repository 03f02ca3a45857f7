"""`meek report` in a real headless Chromium: the pages load without console errors, sorting and filtering change the
rows, a hostile model name shows as text, and a screenshot is taken (skipped where no Chromium is installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.aggregate.compare import in_shape_order

LLAMA_BENCH = Path(__file__).parent / "fixtures" / "llama-bench" / "smollm2-cpu.json"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_chromium(width: int = 1400, height: int = 900):
    """Headless chromium through selenium at a window size, its console log kept; the test skips where there is none."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        pytest.skip("no chromium and chromedriver here (.ci/run installs Debian's chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(paths[1]), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory, real_results, meek_home) -> Path:
    """A site built by `meek report` from real bench results and an imported llama-bench file."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("report")
    results = root / "results"
    for file in real_results:
        (results / file.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(file, results / file.parent.name / file.name)
    env = {**os.environ, "MEEK_HOME": str(meek_home)}
    meek = [sys.executable, "-m", "harness.cli"]
    subprocess.run(
        [*meek, "import", "llama-bench", str(LLAMA_BENCH), "--results-dir", str(results)],
        check=True,
        env=env,
        capture_output=True,
    )
    completed = subprocess.run(
        [*meek, "report", "--results-dir", str(results), "--out", str(root / "site")], env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert "3 row" not in completed.stdout and "from 2 machine(s)" in completed.stdout
    return root / "site"


def rows(browser) -> list[list[str]]:
    return [
        [td.text for td in tr.find_elements("css selector", "td")]
        for tr in browser.find_elements("css selector", "#leaderboard tbody tr")
    ]


def column(browser, label: str) -> int:
    headers = [th.text.rstrip(" ▲▼") for th in browser.find_elements("css selector", "#leaderboard thead th")]
    return headers.index(label)


def severe(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_every_page_loads_offline_without_console_errors(browser, site):
    pages = [
        "index.html",
        "compare.html",
        "buying.html",
        "frontier.html",
        *(f"machines/{p.name}" for p in (site / "machines").iterdir()),
    ]
    for page in pages:
        browser.get((site / page).as_uri())
        assert browser.find_element("css selector", "h1").text, page
        assert severe(browser) == [], page
    for asset in ("app.js", "style.css", "data.js", "frontier-mmlu.svg"):
        assert (site / "assets" / asset).is_file()
    assert "http" not in (site / "index.html").read_text().split("<footer>")[0]  # no CDN: nothing fetched from the network


def loaded(browser, page: Path) -> None:
    """Open a page and wait (up to 20 s) until its script has drawn the leaderboard: on a loaded 2-core machine the
    first read can come before the rows exist."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    WebDriverWait(browser, 20).until(lambda b: b.find_elements("css selector", "#leaderboard tbody tr"))


def site_data(folder: Path) -> dict:
    """The data the pages draw from, as `meek report` wrote it (assets/data.js)."""
    import json

    return json.loads((folder / "assets" / "data.js").read_text().removeprefix("window.MEEK_DATA = ").rstrip(";\n"))


def shown_devices(browser) -> set[str]:
    """The devices the leaderboard shows: its device column less the expand mark and the machine count."""
    device = column(browser, "device")
    return {r[device].lstrip("▸▹ ").rsplit(" (", 1)[0] for r in rows(browser)}


def chosen_tests(browser) -> tuple[str, str]:
    """The tests the leaderboard's two speed columns show (pp512 and tg128 where the model ran them)."""
    from selenium.webdriver.support.ui import Select

    return tuple(Select(browser.find_element("id", i)).first_selected_option.get_attribute("value") for i in ("f-pp", "f-tg"))


def expected_devices(data: dict, model: str, tests: tuple[str, ...]) -> set[str]:
    """The devices the leaderboard's view of a model in these tests shows: those with a machine that ran one of them."""
    return {
        row["device"] or row["machine"]
        for row in data["rows"]
        if row["model"] == model and any(t[0] in tests for t in row["tests"])
    }


def test_leaderboard_sorts_filters_and_keeps_its_view_in_the_url(browser, site):
    from selenium.webdriver.support.ui import Select

    data = site_data(site)
    loaded(browser, site / "index.html")
    model = Select(browser.find_element("id", "f-model")).first_selected_option.get_attribute("value")
    assert model == data["defaultModel"]
    pp_test, tg_test = chosen_tests(browser)
    assert shown_devices(browser) == expected_devices(data, model, (pp_test, tg_test))
    tg = column(browser, f"{tg_test} t/s")
    values = [float(r[tg].removesuffix(" !")) for r in rows(browser) if r[tg]]
    assert values == sorted(values, reverse=True)  # fastest first by default
    browser.find_elements("css selector", "#leaderboard thead th")[tg].click()
    assert "sort=tg" in browser.current_url and "desc=0" in browser.current_url
    other = next(r["model"] for r in data["rows"] if r["model"] != model and r["tests"])
    Select(browser.find_element("id", "f-model")).select_by_value(other)
    assert f"model={other}" in browser.current_url
    url = browser.current_url
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get("about:blank")
    browser.get(url)  # a linked view, opened afresh: the model and the sort come back
    WebDriverWait(browser, 20).until(lambda b: b.find_elements("css selector", "#leaderboard tbody tr"))
    assert Select(browser.find_element("id", "f-model")).first_selected_option.get_attribute("value") == other
    assert browser.find_element("css selector", "#leaderboard thead th[aria-sort='ascending']").get_attribute("data-key") == "tg"
    # a click on a device lists its machines, each linking its own page
    browser.find_element("css selector", "#leaderboard tbody tr.expandable").click()
    links = browser.find_elements("css selector", "#leaderboard tr.detail a")
    assert links and all("/machines/" in a.get_attribute("href") for a in links)
    browser.find_element("id", "f-search").send_keys("no device is called this")
    assert rows(browser) == []
    browser.save_screenshot(str(site / "leaderboard.png"))
    assert (site / "leaderboard.png").stat().st_size > 10_000


def test_machine_link_and_compare_page(browser, site):
    loaded(browser, site / "index.html")
    browser.find_element("css selector", "#leaderboard tbody tr.expandable").click()
    browser.find_element("css selector", "#leaderboard tr.detail a").click()
    assert browser.find_element("css selector", "h1").text.startswith("Machine ")
    assert browser.find_elements("css selector", ".bar-row")
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((site / "compare.html").as_uri())
    # as for the leaderboard: on a loaded 2-core machine the script may draw the page after the first read (one CI run)
    WebDriverWait(browser, 20).until(lambda b: b.find_element("id", "c-count").text)
    assert_compare_page_pairs_only_the_same_test(browser, site.parent / "results")


def compared_rows(browser) -> list[tuple[str, str]]:
    return [
        tuple(td.text for td in tr.find_elements("css selector", "td")[:2])
        for tr in browser.find_elements("css selector", "#comparison tbody tr")
    ]


def assert_compare_page_pairs_only_the_same_test(browser, results: Path) -> None:
    """The pair the page opens on: its rows are exactly the tests both sides ran, as compare's side_by_side finds them
    (the same function as `meek compare --devices A,B`), and every other test is listed apart, by name."""
    from selenium.webdriver.support.ui import Select

    from harness.aggregate.compare import side_by_side, side_figures
    from harness.aggregate.tree import load_tree

    a, b = (Select(browser.find_element("id", i)).first_selected_option.get_attribute("value") for i in ("c-a", "c-b"))
    assert a != b
    figures = side_figures(load_tree([results]).runs)
    shared, only = side_by_side(figures, a, b)
    assert sorted(compared_rows(browser)) == sorted(zip(shared["model_label"], shared["test"]))
    listed = browser.find_element("id", "c-only").text + browser.find_element("id", "c-apart").get_attribute("textContent")
    for row in only.itertuples():
        assert f"only {row.side_label}: {', '.join(row.tests)}" in listed


def test_hostile_model_name_shows_as_text(browser, tmp_path, real_results):
    from harness.aggregate.tree import load_tree
    from harness.site.build import write_site

    tree = load_tree([real_results[0]])
    tree.runs["model_label"] = HOSTILE
    tree.runs["device"] = HOSTILE
    write_site(tree, tmp_path / "site", frontier_benchmarks=())
    for page in ["index.html", *(f"machines/{p.name}" for p in (tmp_path / "site" / "machines").iterdir())]:
        browser.get((tmp_path / "site" / page).as_uri())
        assert browser.title != "pwned", page
        assert not browser.find_elements("css selector", "main img, main script"), page
        assert HOSTILE in browser.find_element("css selector", "main").text, page
    browser.save_screenshot(str(tmp_path / "xss.png"))


@pytest.fixture(scope="module")
def record_site(tmp_path_factory, real_results, meek_home) -> Path:
    """A site built from part of the shipped record (DGX Spark, Strix Halo, a few LocalScore machines) plus real results."""
    import os
    import subprocess
    import sys

    shipped = Path(__file__).resolve().parent.parent / "results"
    root = tmp_path_factory.mktemp("record-report")
    folders = [p for p in sorted(shipped.iterdir()) if p.name.startswith(("dgx-spark-", "ryzen-ai-max-395-"))]
    folders += [p for p in sorted(shipped.iterdir()) if "-localscore-" in p.name][:40]
    for folder in folders:
        shutil.copytree(folder, root / "results" / folder.name)
    for file in real_results:
        (root / "results" / file.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(file, root / "results" / file.parent.name / file.name)
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "--results-dir", str(root / "results"), "--out", str(root / "site")],
        env={**os.environ, "MEEK_HOME": str(meek_home)},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    return root / "site"


def test_record_site_badges_filters_buying_view_and_device_pages(browser, record_site):
    from selenium.webdriver.support.ui import Select

    loaded(browser, record_site / "index.html")
    Select(browser.find_element("id", "f-provenance")).select_by_visible_text("imported")
    assert {badge.text for badge in browser.find_elements("css selector", "#leaderboard .badge")} == {"imported"}
    assert "provenance=imported" in browser.current_url
    browser.get((record_site / "buying.html").as_uri())
    Select(browser.find_element("id", "b-model")).select_by_visible_text("gpt-oss-120b-mxfp4")
    assert "model=gpt-oss-120b-mxfp4" in browser.current_url
    kinds = [tr.find_elements("css selector", "td")[3] for tr in browser.find_elements("css selector", "#buying tbody tr")]
    assert kinds and all(td.get_attribute("title").startswith("basis: ") for td in kinds)  # the basis on hover
    badges = [b.text for b in browser.find_elements("css selector", "#buying .badge")]
    # Strix Halo ran tg128 (measured); DGX Spark's bench ran tg32, which is not tg128: predicted, never called measured
    assert "measured" in badges and "predicted" in badges
    assert "1 measured" in browser.find_element("id", "b-count").text
    Select(browser.find_element("id", "b-provenance")).select_by_visible_text("measured")
    devices = {tr.find_elements("css selector", "td")[0].text for tr in browser.find_elements("css selector", "#buying tbody tr")}
    assert any("Ryzen AI Max" in d for d in devices) and len(devices) == 1
    links = [a.get_attribute("href") for a in browser.find_elements("css selector", "#device-pages a")]
    assert any(link.endswith("devices/dgx-spark.html") for link in links)
    for device in ("dgx-spark", "ryzen-ai-max-395"):
        browser.get((record_site / "devices" / f"{device}.html").as_uri())
        assert browser.find_element("css selector", "main img.figure").get_attribute("naturalWidth") != "0"
        assert "@ d" in browser.find_element("css selector", "main table").text  # every point at depth, with its source
        points = [
            [td.text for td in tr.find_elements("css selector", "td")[:2]]
            for tr in browser.find_elements("css selector", "main table tbody tr")
        ]
        for model in {m for m, _ in points}:
            tests = list(dict.fromkeys(t for m, t in points if m == model))
            assert tests == in_shape_order(tests), (device, model)  # d4096 before d16384, pp before tg at one depth
    assert not severe(browser)


def test_record_compare_page_never_puts_a_ratio_between_different_tests(browser, record_site):
    """DGX Spark (pp2048/tg32 at depths) beside Strix Halo (pp512/tg128): only the shapes both ran share a row and a
    ratio; the others are listed apart, by name, in depth order. Screenshot at 1366 px for a look."""
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.set_window_size(1366, 900)
    browser.get((record_site / "compare.html").as_uri())
    WebDriverWait(browser, 20).until(lambda b: b.find_element("id", "c-count").text)
    assert_compare_page_pairs_only_the_same_test(browser, record_site.parent / "results")  # the pair it opens on
    Select(browser.find_element("id", "c-a")).select_by_value("dgx-spark")
    Select(browser.find_element("id", "c-b")).select_by_value("ryzen-ai-max-395")
    assert_compare_page_pairs_only_the_same_test(browser, record_site.parent / "results")
    rows = compared_rows(browser)
    assert [test for model, test in rows if model == "gpt-oss-120b-mxfp4"] == ["pp2048 @ d32768", "tg32 @ d32768"]
    gpt = [li.text for li in browser.find_elements("css selector", "#c-only li") if li.text.startswith("gpt-oss-120b-mxfp4:")]
    assert len(gpt) == 1
    assert (
        "only NVIDIA DGX Spark (GB10, 128 GB): pp2048, tg32, pp2048 @ d4096, tg32 @ d4096, pp2048 @ d8192, tg32 @ d8192, "
        "pp2048 @ d16384, tg32 @ d16384; only AMD Ryzen AI Max+ 395, 128 GB (e.g. Framework Desktop): pp512, tg128"
    ) in gpt[0]
    header = [th.text.rstrip(" ▲▼") for th in browser.find_elements("css selector", "#comparison thead th")]
    assert header == ["model", "test", "A t/s", "A from", "B t/s", "B from", "B / A"]
    table = browser.find_element("id", "comparison")
    assert table.rect["x"] + table.rect["width"] <= 1366  # the table fits a 1366 px screen without scrolling sideways
    browser.save_screenshot(str(record_site / "compare-1366.png"))
    assert (record_site / "compare-1366.png").stat().st_size > 10_000
    assert not severe(browser)
    browser.set_window_size(1400, 900)
