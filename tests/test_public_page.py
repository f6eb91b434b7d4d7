"""The residents' page in a real headless browser (Debian's chromium driven by Playwright): it renders
the demo's kind of outages by district and street, the street search works, it fits a phone's screen,
and a screenshot is kept under .test-state/public/ as the test's artefact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.db import utcnow
from gateway.public.app import create_app
from tests.public_fixtures import HOTLINE, TANKER, seed, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTEFACTS = Path(__file__).resolve().parent.parent / ".test-state" / "public"
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_resident_page_shows_the_outages_and_finds_a_street(database_url, sessions, browser, request):
    seed(sessions, utcnow())
    with serving(create_app(database_url)) as base:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                      locale="uk-UA")
        page = context.new_page()
        page.goto(base + "/")
        assert page.title().startswith("Відключення та роботи")

        today = page.locator("#today")
        assert today.locator("h3").all_inner_texts() == ["ДОВГИНЦІВСЬКИЙ РАЙОН"]  # shown in capitals by CSS
        assert today.locator("h4.street").all_inner_texts() == ["вул. Соборності", "пров. Ковальський"]
        water = today.locator("article", has_text="вул. Соборності").first
        assert "Будинки: 12–28 (парні), 31" in water.inner_text()
        assert f"Підвезення води: {TANKER}" in water.inner_text()
        assert water.locator("a.phone").inner_text() == HOTLINE
        assert water.locator("a.phone").get_attribute("href") == "tel:" + HOTLINE.replace(" ", "")

        upcoming = page.locator("#upcoming")
        assert upcoming.locator("h4.street").all_inner_texts() == [
            "просп. Металургів", "бульв. Вечірній", "просп. Гагаріна", "вул. Солов’їна"]
        assert "опалення" in upcoming.locator("article", has_text="просп. Металургів").inner_text()
        waste = upcoming.locator("article", has_text="бульв. Вечірній").first.inner_text()
        assert "Коли: вивезення" in waste and "(замість" in waste
        assert page.evaluate("new Set([...document.querySelectorAll('[id]')].map(e => e.id)).size") == \
            page.locator("[id]").count()  # every id once
        assert "Кобилянського" not in page.locator("main").inner_text()  # the cancelled notice is not shown
        assert "Тбіліська" not in page.locator("main").inner_text()  # nor the finished one

        # Readable on a phone: nothing wider than the screen, text at a readable size.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        backend = request.node.callspec.params["database_url"]
        shot = ARTEFACTS / f"resident-page-{backend}.png"
        page.screenshot(path=str(shot), full_page=True)
        page.screenshot(path=str(ARTEFACTS / f"resident-page-first-screen-{backend}.png"))
        print(f"\nscreenshot of the resident page: {shot}")

        # The search: the old name of the street, typed as residents do, finds today's works on it only.
        page.fill("#street", "вулиця Леніна")
        page.fill("#house", "16а")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "street=" in page.url
        assert "вул. Соборності, 16а" in page.locator("#search-result").inner_text()
        assert page.locator("h4.street").all_inner_texts() == ["вул. Соборності"]
        assert "Металургів" not in page.locator("main").inner_text()
        page.screenshot(path=str(ARTEFACTS / f"resident-page-search-{backend}.png"), full_page=True)

        page.fill("#street", "вул. Соборності")
        page.fill("#house", "15")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "нічого не знайдено" in page.locator("#search-result").inner_text()
        assert "Сьогодні за цією адресою відключень не оголошено." in page.locator("#today").inner_text()
        context.close()
