"""Downloads for the browser that clicked: the file a download button makes on click is served,
at its address (/media/<id>.csv), only to a request carrying that browser's own cookie, and is
forgotten shortly after its first fetch. Another browser holding the address gets 404, signed in
or not, and so does everyone once the file is forgotten.

How, in Streamlit 1.67 (which serves /media/ without looking at the session, and has no setting
for it):
- The browser's cookie. The server is started as `streamlit run app.py`: app.py is a public
  `st.App` whose one middleware, `BrowserCookie`, gives every browser an HttpOnly, SameSite=Strict
  cookie `clinic_browser` (256 random bits, set on its first response, typically the page itself)
  and, for each HTTP request, notes that request's cookie for the code the request runs
  (a context variable). The WebSocket that opens the browser session carries the same cookie, so
  the page sees it as `st.context.cookies` (`clicking_browser`).
- The file's owner. `ui/tables.py audited_download` takes the clicking browser's cookie when the
  page runs, and the call that makes the file names it (`made_for`); Streamlit stores the file
  right after, on the same thread, and the server's media store (`Runtime.media_file_mgr`'s
  memory storage, given a subclass once per process) records the browser for that file's id.
  (Two browsers making the identical file share Streamlit's id, so an id holds a set of browsers.)
- The check. The /media route looks the file up in that store: a downloadable file is handed
  over only if the request's cookie is one of the file's browsers, else the lookup fails as for
  an unknown file, and Streamlit answers 404. A request without our middleware carries no
  cookie, so a server started as `streamlit run dashboard.py` refuses every download (closed, not
  open). The file is deleted GRACE_SECONDS (30 s) after its first fetch by its browser (Chromium
  fetches a PDF twice, once to look and once to save, so it cannot go at the first request).
Images and other media are left alone; building a file's address is a lookup that starts nothing.
tests/test_browser_downloads.py proves it against the real server (a second browser, not signed
in, gets 404 for the address right after the first one's click, which gets its file), so an
upgrade of Streamlit that changes the store or the route fails there."""
from __future__ import annotations

import contextvars
import logging
import os
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage

# How long the clicking browser's own fetches may take: Chromium fetches a PDF twice, and on a
# busy server the second request can come seconds after the first. CLINIC_DOWNLOAD_GRACE_SECONDS
# changes it (the browser test uses a short one).
GRACE_SECONDS = float(os.environ.get("CLINIC_DOWNLOAD_GRACE_SECONDS", "30"))
COOKIE = "clinic_browser"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_LOG = logging.getLogger(__name__)

_requesting_browser: contextvars.ContextVar[str | None] = contextvars.ContextVar("clinic_requesting_browser", default=None)
_building_address = threading.local()
_making = threading.local()
_owners: dict[str, set[str]] = {}
_owners_lock = threading.Lock()
_warned = threading.Event()  # the warning about a server without app.py, once per process

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def browser_of(cookie_header: str | None) -> str | None:
    """The browser's token in a Cookie header, or None if there is none or it is not one of ours."""
    if not cookie_header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed header is a browser without our cookie
        return None
    morsel = cookies.get(COOKIE)
    return morsel.value if morsel is not None and _TOKEN.fullmatch(morsel.value) else None


class BrowserCookie:
    """ASGI middleware (app.py): gives a browser without our cookie one, and notes each HTTP
    request's cookie for the /media lookup it runs."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = b"; ".join(value for name, value in scope.get("headers", []) if name == b"cookie")
        browser = browser_of(header.decode("latin-1"))
        new = None if browser is not None else secrets.token_urlsafe(32)

        async def send_with_cookie(message: Message) -> None:
            if new is not None and message["type"] == "http.response.start":
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                value = f"{COOKIE}={new}; Path=/; HttpOnly; SameSite=Strict{secure}"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode("latin-1"))]
            await send(message)

        token = _requesting_browser.set(browser)
        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _requesting_browser.reset(token)


def clicking_browser() -> str | None:
    """This browser session's cookie (None where there is none: AppTest, or no app.py)."""
    return browser_of(f"{COOKIE}={st.context.cookies.get(COOKIE, '')}")


def made_for(browser: str | None) -> None:
    """Say, in the call that makes a download (on Streamlit's thread that stores it next), for
    which browser the file is; the store records it with the file's id."""
    _making.browser = browser


class BrowserBoundStorage(MemoryMediaFileStorage):
    """Streamlit's memory media store, whose downloadable files each belong to the browsers they
    were made for (see the module's docstring)."""

    def load_and_get_id(self, path_or_data: Any, mimetype: str, kind: MediaFileKind, filename: str | None = None) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        if kind == MediaFileKind.DOWNLOADABLE:
            browser, _making.browser = getattr(_making, "browser", None), None
            if browser is not None:
                with _owners_lock:
                    _owners.setdefault(file_id, set()).add(browser)
        return file_id

    def get_file(self, filename: str) -> MemoryFile:
        """The /media route's lookup: a downloadable file only for its browser, and forgotten
        shortly after that browser first fetched it."""
        media = super().get_file(filename)
        if media.kind == MediaFileKind.DOWNLOADABLE and not getattr(_building_address, "active", False):
            file_id = os.path.splitext(filename)[0]
            browser = _requesting_browser.get()
            with _owners_lock:
                allowed = browser is not None and browser in _owners.get(file_id, ())
            if not allowed:
                raise MediaFileStorageError(f"Bad filename '{filename}'. (No media file with id '{file_id}')")
            forget = threading.Timer(GRACE_SECONDS, self.delete_file, args=(file_id,))
            forget.daemon = True
            forget.start()
        return media

    def delete_file(self, file_id: str) -> None:
        with _owners_lock:
            _owners.pop(file_id, None)
        super().delete_file(file_id)

    def get_url(self, file_id: str) -> str:
        _building_address.active = True  # get_url looks the file up to name its extension
        try:
            return super().get_url(file_id)
        finally:
            _building_address.active = False


def serve_downloads_to_their_browser() -> None:
    """Make the running server serve each downloadable file only to the browser it was made for,
    and forget it GRACE_SECONDS after that browser first fetched it (idempotent). Does nothing
    where there is no server (AppTest runs pages without one) or the store is not Streamlit's
    memory store."""
    if not Runtime.exists():
        return
    storage = Runtime.instance().media_file_mgr._storage  # noqa: SLF001 - no public accessor in 1.67
    if type(storage) is MemoryMediaFileStorage:
        storage.__class__ = BrowserBoundStorage
        if clicking_browser() is None and not _warned.is_set():
            _warned.set()
            _LOG.warning("No %s cookie: start the dashboard with `streamlit run app.py`, or every download is refused", COOKIE)
