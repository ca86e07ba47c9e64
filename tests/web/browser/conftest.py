"""Browser tests: Playwright for Python driving Debian's chromium (/usr/bin/chromium; never a
downloaded browser) against pytest-django's live server.

Without chromium or Playwright these tests skip and say why; with CI=true they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.servers.basehttp import WSGIServer
from django.test import Client
from django.test.testcases import LiveServerThread

CHROMIUM = Path(os.environ.get("HUZHU_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"

# Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make to set
# up data are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class OneRequestAtATime(WSGIServer):
    """The live server answers one request at a time, in its own thread.

    On SQLite the test database lives in memory and every server thread shares the test's one
    connection; the stock threaded server then runs the browser's parallel requests (a page's
    chart fetches, say) on that one connection at once, and they can deadlock inside sqlite3,
    hanging the suite. Served in turn, with `Connection: close`, nothing is shared at once."""

    def __init__(self, *args: Any, connections_override: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)


LiveServerThread.server_class = OneRequestAtATime  # type: ignore[assignment]


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (as root `make test` installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make install)"
    return None


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    reason = _unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: browser tests must run, but {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright: Any, *extra: str) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *extra])


@pytest.fixture(scope="session")
def browser(playwright_session: Any) -> Iterator[Any]:
    b = launch(playwright_session)
    yield b
    b.close()


class Page:
    """A page that fails the test on a JavaScript error or a console error."""

    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        self.expected: tuple[str, ...] = ()  # console errors a test provokes on purpose
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    def check(self) -> None:
        errors = [e for e in self.errors if not any(x in e for x in self.expected)]
        assert not errors, errors


@pytest.fixture
def open_page(browser: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """open_page(viewport, user=None) → (playwright page, error watcher); `user` is signed in
    by session cookie."""
    contexts: list[Any] = []
    watchers: list[Page] = []

    def make(viewport: dict[str, int] = PHONE, user: Any = None, **options: Any) -> Any:
        context = browser.new_context(
            viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            sign_in_cookie(context, live_server.url, user)
        page = context.new_page()
        watcher = Page(page)
        watchers.append(watcher)
        page.huzhu_watcher = watcher
        return page

    yield make
    for w in watchers:
        w.check()
    for c in contexts:
        c.close()


def sign_in_cookie(context: Any, url: str, user: Any) -> None:
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]
    )


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} scrolls sideways: {width}px"


def every_field_labelled(page: Any) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
          .filter(e => e.type !== 'hidden')
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                        && !e.getAttribute('aria-labelledby'))
          .map(e => e.outerHTML)"""
    )
    assert unlabelled == [], unlabelled


@pytest.fixture(autouse=True)
def _empty_append_only_tables(empty_append_only_tables: None) -> None:
    """Every browser test is transactional: see tests/conftest.py."""
