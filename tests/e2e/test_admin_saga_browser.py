"""End to end in a real browser: the operator reads sagas in the admin of a running split stack.

Headless Chromium from Debian's packages (``/usr/bin/chromium``, driven through Debian's
``/usr/bin/chromedriver`` by Selenium; ``scripts/browser.sh ensure`` installs both) signs in to
the stack's admin as the operator, finds orders from the order list and the saga search, and
checks what each saga page shows: a completed order, one waiting for stock, and a cancelled one
with its compensations. Screenshots of each page are kept in ``var/screenshots/`` (CI keeps
them as artifacts).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lotus.testing import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("LOTUS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LOTUS_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (install them: scripts/browser.sh ensure)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1600,1000",
    ):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def sagas(stack):
    """Three orders of the stack: completed, waiting for stock, cancelled (from waiting for stock)."""
    completed_by = stack.customer(money=1000)
    completed = _place(completed_by, 1)
    waiting_by = stack.customer(money=1000)
    waiting = _place(waiting_by, 2)  # product 2 has nothing on hand
    cancelled_by = stack.customer(money=1000)
    cancelled = _place(cancelled_by, 2)
    _wait_status(completed_by, completed, "NotifyingSourceSystem")
    _wait_status(waiting_by, waiting, "ValidatingStock")
    _wait_status(cancelled_by, cancelled, "ValidatingStock")
    assert cancelled_by.call("POST", f"/order/{cancelled}/cancel").status_code == 202
    _wait_status(cancelled_by, cancelled, "Cancelled")
    # The last notifications and inbox rows land just after the state: let them.
    wait_for(
        lambda: len(stack.sql("notifications", "SELECT 1 FROM notifications_notification WHERE order_id = %s",
                              (completed,))) >= 3,
        timeout=30, message="the completed order's notifications",
    )  # fmt: skip
    return {"completed": completed, "waiting": waiting, "cancelled": cancelled}


@pytest.fixture(scope="module")
def operator_browser(browser, stack):
    from selenium.webdriver.common.by import By

    browser.get(stack.url + "/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(os.environ.get("LOTUS_OPERATOR_EMAIL", "operator@lotus.local"))
    browser.find_element(By.NAME, "password").send_keys(os.environ["LOTUS_OPERATOR_PASSWORD"])
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(lambda: browser.current_url.rstrip("/").endswith("/admin"), timeout=10, message="the admin's index")
    assert "Site administration" in browser.title, browser.page_source[:500]
    return browser


def arrived_at(browser, url: str) -> None:
    """A click returns before the page it leads to has loaded: wait (bounded) until it has."""
    wait_for(lambda: browser.current_url == url, timeout=15, message=f"the browser at {url}")


def test_a_completed_saga_from_the_order_list(operator_browser, stack, sagas):
    from selenium.webdriver.common.by import By

    browser = operator_browser
    order_id = sagas["completed"]
    browser.get(f"{stack.url}/admin/orders/order/?q={order_id}")
    browser.find_element(By.LINK_TEXT, "saga").click()
    arrived_at(browser, f"{stack.url}/admin/sagas/{order_id}/")

    steps = _timeline(browser)
    assert [step["target"] for step in steps] == [
        "ValidatingBilling", "ValidatingStock", "ValidatingDelivery", "NotifyingSourceSystem",
    ]  # fmt: skip
    assert "a request" in steps[0]["cause"]
    for step, (message, producer) in zip(
        steps[1:],
        [("PaymentTaken", "billing"), ("StockReserved", "stock"), ("CourierReserved", "delivery")],
        strict=True,
    ):
        assert f"{message} from {producer}" in step["cause"], step
        assert "applied by orders 20" in step["cause"], step  # when orders applied it (UTC)
        assert step["written_to_applied"].endswith(("ms", " s")), step  # the outbox row and orders' inbox row
    assert "OrderPlaced" in steps[0]["emitted"]
    assert "ChargeOrder" in steps[0]["emitted"]
    assert "ReserveStock → stock" in steps[1]["emitted"]
    assert "ReserveCourier → delivery" in steps[2]["emitted"]

    related = _related(browser)
    assert related["charge"]["state"].endswith("paid")
    assert related["reservation"]["state"].endswith("reserved")
    assert related["delivery request"]["state"].startswith("reserved")
    for what in ("charge", "reservation", "delivery request"):
        assert related[what]["href"].startswith(f"{stack.url}/admin/"), related[what]
    assert not browser.find_elements(By.ID, "compensations")
    _screenshot(browser, "saga-completed.png")

    # Its charge's admin page is one click away.
    browser.get(related["charge"]["href"])
    assert order_id in browser.page_source


def test_a_saga_waiting_for_stock_found_by_searching_its_id(operator_browser, stack, sagas):
    from selenium.webdriver.common.by import By

    browser = operator_browser
    order_id = sagas["waiting"]
    browser.get(f"{stack.url}/admin/sagas/")
    browser.find_element(By.ID, "saga-q").send_keys(order_id)
    browser.find_element(By.CSS_SELECTOR, "#saga-search input[type=submit]").click()
    arrived_at(browser, f"{stack.url}/admin/sagas/{order_id}/")

    assert browser.find_element(By.ID, "order-status").text == "ValidatingStock"
    assert browser.find_element(By.ID, "waits").text == "waiting for stock: product 2 has 0 on hand"
    steps = _timeline(browser)
    assert [step["target"] for step in steps] == ["ValidatingBilling", "ValidatingStock"]
    assert "PaymentTaken from billing" in steps[1]["cause"]
    assert "ReserveStock → stock" in steps[1]["emitted"]
    related = _related(browser)
    assert related["charge"]["state"].endswith("paid")
    assert related["reservation"]["state"].endswith("waiting")
    assert "delivery request" not in related
    assert browser.find_element(By.LINK_TEXT, "Cancel this order…")
    _screenshot(browser, "saga-waiting-for-stock.png")


def test_a_cancelled_saga_shows_its_compensations(operator_browser, stack, sagas):
    from selenium.webdriver.common.by import By

    browser = operator_browser
    order_id = sagas["cancelled"]
    browser.get(f"{stack.url}/admin/sagas/{order_id}/")
    steps = _timeline(browser)
    assert [step["target"] for step in steps] == ["ValidatingBilling", "ValidatingStock", "Cancelling", "Cancelled"]
    assert "a request" in steps[2]["cause"]
    assert "RefundOrder → billing" in steps[2]["emitted"]
    assert "ReleaseStock → stock" in steps[2]["emitted"]
    assert any(reply in steps[3]["cause"] for reply in ("PaymentRefunded from billing", "StockReleased from stock"))

    compensations = {
        row.get_attribute("data-service"): [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#compensations tr.compensation")
    }
    assert set(compensations) == {"billing", "stock"}
    assert compensations["billing"][1] == "yes"
    assert "refunded" in compensations["billing"][2]
    assert "refund 700.00" in compensations["billing"][2]
    assert compensations["stock"][1] == "yes"
    assert compensations["stock"][2].endswith(("withdrawn", "released"))
    related = _related(browser)
    assert related["charge"]["state"].endswith("refunded")
    assert not browser.find_elements(By.LINK_TEXT, "Cancel this order…")
    _screenshot(browser, "saga-cancelled.png")


def test_the_stuck_list_is_linked_from_the_order_list(operator_browser, stack, sagas):
    from selenium.webdriver.common.by import By

    browser = operator_browser
    browser.get(f"{stack.url}/admin/orders/order/")
    browser.find_element(By.ID, "stuck-sagas-link").click()
    arrived_at(browser, f"{stack.url}/admin/sagas/stuck/")
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#content h2")]
    assert [h.split(":")[0] for h in headings] == [
        "ValidatingBilling",
        "ValidatingStock",
        "ValidatingDelivery",
        "Cancelling",
    ]
    _screenshot(browser, "sagas-stuck.png")


def _place(api, product: int) -> str:
    placed = api.call("POST", f"/order/place?idSubscription={product}")
    assert placed.status_code == 202, placed.text
    return placed.json()["orderId"]


def _wait_status(api, order_id: str, status: str) -> None:
    wait_for(
        lambda: api.call("GET", f"/order/{order_id}").json()["status"] == status,
        timeout=60, message=f"order {order_id} {status}",
    )  # fmt: skip


def _timeline(browser) -> list[dict[str, str]]:
    from selenium.webdriver.common.by import By

    steps = []
    for row in browser.find_elements(By.CSS_SELECTOR, "#timeline tr.step"):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        steps.append(
            {
                "target": row.get_attribute("data-target"),
                "cause": cells[2],
                "waited_in_outbox": cells[3],
                "waited_in_kafka": cells[4],
                "written_to_applied": cells[5],
                "emitted": cells[6],
            }
        )
    return steps


def _related(browser) -> dict[str, dict[str, str]]:
    from selenium.webdriver.common.by import By

    related = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#related tr.related"):
        cells = row.find_elements(By.TAG_NAME, "td")
        links = cells[1].find_elements(By.TAG_NAME, "a")
        related[row.get_attribute("data-what")] = {
            "state": cells[2].text,
            "href": links[0].get_attribute("href") if links else "",
        }
    return related


def _screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1600, max(1000, min(int(height) + 50, 6000)))
    assert browser.save_screenshot(str(SCREENSHOTS / name)), name
    browser.set_window_size(1600, 1000)
