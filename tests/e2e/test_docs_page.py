"""GET /docs in a real browser: Debian's headless Chromium, driven by Playwright.

The page must list every operation of the route table, and "Try it out" must reach the API it
documents with the token given to "Authorize". The page loads nothing from any other host.
CI installs Debian's `chromium` (.ci/run); without it the tests are skipped, with a message.
"""

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from shared.routes import ROUTES

CHROMIUM = shutil.which("chromium")
# Headless, and quiet: no sandbox (CI runs as root), no GPU, and none of the browser's own
# connections (updates, sync, field trials), which this offline machine could not make anyway.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on PATH: `apt-get install chromium` "
                                                "to test the docs page in a browser"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # launch() gives the browser a fresh, temporary profile of its own and removes it afterwards.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def docs(browser, stack) -> Iterator[tuple[Page, list[Request]]]:
    """The docs page, rendered once for this module's tests, and every request it has made."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"{stack.base_url}/docs")
    page.wait_for_selector(".swagger-ui .information-container .title")
    page.wait_for_selector(".swagger-ui .opblock")
    try:
        yield page, requests
    finally:
        context.close()


def _assert_only_the_stack_was_asked(requests: list[Request], stack) -> None:
    stack_host = urlsplit(stack.base_url).netloc
    elsewhere = [r.url for r in requests
                 if urlsplit(r.url).scheme not in ("data", "blob") and urlsplit(r.url).netloc != stack_host]
    assert not elsewhere, f"the docs page made requests beyond the local stack: {elsewhere}"


def _operation(page: Page, method: str, path: str):
    summary_path = page.locator(f'.opblock-summary-path[data-path="{path}"]')
    return page.locator(f".opblock.opblock-{method.lower()}", has=summary_path)


def test_the_docs_page_lists_every_operation_of_the_route_table(docs, stack):
    page, requests = docs
    shown = page.eval_on_selector_all(
        ".swagger-ui .opblock",
        """blocks => blocks.map(block => [
            block.querySelector('.opblock-summary-method').textContent.trim(),
            block.querySelector('.opblock-summary-path').getAttribute('data-path'),
        ])""",
    )
    assert sorted(map(tuple, shown)) == sorted((route.method, route.path) for route in ROUTES)
    _assert_only_the_stack_was_asked(requests, stack)


def test_try_it_out_with_the_demo_token_answers_200(docs, stack):
    page, requests = docs
    page.locator(".swagger-ui .auth-wrapper button.authorize").click()
    dialog = page.locator(".swagger-ui .dialog-ux .modal-ux")
    scheme = dialog.locator(".auth-container", has=page.get_by_text("bearerAuth"))
    scheme.locator("input").fill(stack.demo["token"])
    scheme.locator("button.authorize").click()
    scheme.get_by_text("Authorized", exact=True).wait_for()  # Swagger UI now holds the token
    dialog.locator("button.btn-done").click()
    dialog.wait_for(state="detached")

    statuses = _operation(page, "GET", "/crm/statuses")
    statuses.locator(".opblock-summary").click()
    statuses.locator("button.try-out__btn").click()
    statuses.locator("button.execute").click()

    live = statuses.locator(".live-responses-table .response")
    assert live.locator(".response-col_status").inner_text().strip() == "200"
    assert '"statuses"' in live.locator(".response-col_description").inner_text()
    sent = [r for r in requests if urlsplit(r.url).path.endswith("/crm/statuses")]
    assert [r.url for r in sent] == [f"{stack.base_url}/crm/statuses"]
    assert sent[0].headers.get("authorization") == f"Bearer {stack.demo['token']}"
    _assert_only_the_stack_was_asked(requests, stack)
