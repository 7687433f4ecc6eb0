"""The web page as a person drives it, in a real browser: `sermsim serve` in a subprocess,
Debian's Chromium driven by Playwright (never a downloaded browser). The numbers the page
shows must be those of `sermsim compare --json` for the same person, rounded as the page
rounds them; the disclaimer must be visible; a bad profile must show the API's error."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from sermsim import DISCLAIMER

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers (CI); use /tmp instead
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
START_SECONDS = 120  # the server imports the web app and binds its port well within this
COMPUTE_MS = 300_000  # a fresh server may compile the engine first (a minute or two)
# The person of the page's form below, as a patient file for the CLI (every key the page
# sends, so both ask the same question).
PERSON = {
    "sex": "female",
    "age": 55,
    "menopause": "post",
    "uterus": True,
    "breast_cancer_5y_risk": 0.03,
    "smoker": False,
    "prior_vte": False,
    "prior_fragility_fracture": False,
    "thrombophilia": "none",
    "cyp2d6": "normal",
}
CHECKED_EVENTS = ("invasive_breast_cancer", "endometrial_cancer", "vte")


def page_rounding(x: float) -> str:
    """The page's fmt1: one decimal, ties away from zero, no negative zero.

    >>> page_rounding(14.25), page_rounding(-14.25), page_rounding(-0.04), page_rounding(6.388)
    ('14.3', '-14.3', '0.0', '6.4')
    """
    text = str(Decimal(x).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return "0.0" if text == "-0.0" else text


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sermsim.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()  # another process could take it before the server binds: rare, loud
    log = tmp_path_factory.mktemp("serve") / "serve.log"  # a file, so the server never blocks
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sermsim.interfaces.cli", "serve", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sermsim serve exited with {proc.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                    if json.loads(r.read())["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sermsim serve did not answer /api/health in {START_SECONDS} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`make test` does: "
            "apt-get install -y chromium); this test never downloads a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def cli_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("person") / "P.yaml"
    path.write_text(json.dumps(PERSON), encoding="utf-8")  # JSON is YAML
    done = _cli("compare", "--patient", str(path), "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _fill_the_person(page: Any) -> None:
    page.get_by_test_id("sex").select_option("female")
    page.get_by_test_id("age").fill("55")
    page.get_by_test_id("menopause").select_option("post")
    page.get_by_test_id("uterus").check()
    page.get_by_test_id("breast_cancer_5y_risk").fill("3")
    page.get_by_test_id("years").fill("5")


def test_the_page_shows_the_numbers_of_sermsim_compare(server, browser, cli_result):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.get_by_test_id("weight-dvt").wait_for(state="attached")  # the defaults are loaded
    disclaimer = page.get_by_test_id("disclaimer")
    assert disclaimer.is_visible() and DISCLAIMER in disclaimer.inner_text()

    _fill_the_person(page)
    with page.expect_response(lambda r: r.url.endswith("/api/compare"), timeout=COMPUTE_MS) as a:
        page.get_by_test_id("submit").click()
    assert a.value.status == 200
    page.wait_for_selector("[data-testid=results][data-state=done]", timeout=COMPUTE_MS)
    assert a.value.json()["patient"] == cli_result["patient"]  # the same person was asked

    shown = page.get_by_test_id("results-disclaimer")
    assert shown.is_visible() and shown.inner_text() == DISCLAIMER
    options = cli_result["options"]
    assert len(options) >= 8  # no treatment and the standard options
    for option in options:
        key = option["key"]
        for name in CHECKED_EVENTS:
            cell = page.get_by_test_id(f"events-{key}-{name}")
            assert cell.inner_text() == page_rounding(option["events"][name]["per_1000"]), (
                key,
                name,
            )
        if option["net_benefit"] is not None:
            nbi = page.get_by_test_id(f"nbi-{key}").inner_text()
            assert nbi == page_rounding(option["net_benefit"]["index"]), key
        if key != "none":  # unsuitable options are shown, marked, not hidden
            badge = page.get_by_test_id(f"suitable-{key}").first
            assert badge.is_visible()
            assert (badge.inner_text() == "not suitable") == (not option["suitable"]), key
    assert any(not o["suitable"] for o in options)  # clomiphene after the menopause

    icons = page.get_by_test_id("icons-svg")
    assert icons.locator("use").count() == cli_result["per"]
    assert page.get_by_test_id("bars-svg").locator("rect").count() == len(options)
    assert page.get_by_test_id("signal-none-breast").text_content() == (
        f"{options[0]['signals']['breast']:.2f}"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare_page.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_bad_profile_shows_the_error_naming_the_field(server, browser):
    page = browser.new_page()
    page.goto(server + "/")
    page.get_by_test_id("weight-dvt").wait_for(state="attached")
    _fill_the_person(page)
    page.get_by_test_id("age").fill("300")
    page.get_by_test_id("submit").click()
    error = page.get_by_test_id("error")
    error.wait_for(state="visible", timeout=COMPUTE_MS)
    text = error.inner_text()
    assert "age" in text and "300" in text, text
    assert page.get_by_test_id("results").get_attribute("data-state") == "error"
    assert page.get_by_test_id("age").get_attribute("aria-invalid") == "true"
    assert page.get_by_test_id("disclaimer").is_visible()
    page.close()
