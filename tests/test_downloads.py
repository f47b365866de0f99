"""ui/downloads.py without a browser: the middleware's cookie, and the media store that hands a
downloadable file only to a request carrying the cookie of the browser it was made for. The
real server and two Chromium browsers are in tests/test_browser_downloads.py."""
import asyncio
import secrets
from typing import Any

import pytest
from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError

from ui import downloads

CLICKER, OTHER = secrets.token_urlsafe(32), secrets.token_urlsafe(32)


def request_through_middleware(cookie: str | None, handler) -> tuple[list, Any]:
    """Send one GET through BrowserCookie to an app that calls `handler()`; return the response's
    headers and what the handler returned or raised."""
    seen: dict[str, Any] = {}

    async def inner(scope, receive, send):
        try:
            seen["result"] = handler()
        except Exception as refused:  # what the /media route would turn into 404
            seen["result"] = refused
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    headers = [(b"cookie", f"theme=dark; clinic_browser={cookie}".encode())] if cookie else []
    scope = {"type": "http", "scheme": "http", "method": "GET", "path": "/media/x.csv", "headers": headers}
    asyncio.run(downloads.BrowserCookie(inner)(scope, receive, send))
    return sent[0]["headers"], seen["result"]


def test_a_browser_without_the_cookie_gets_one_that_is_httponly_and_random():
    headers, _ = request_through_middleware(None, lambda: None)
    [cookie] = [value.decode() for name, value in headers if name == b"set-cookie"]
    assert cookie.startswith("clinic_browser=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert downloads.browser_of(cookie.split(";")[0]) is not None
    assert request_through_middleware(CLICKER, lambda: None)[0] == []  # one it has is kept
    assert [name for name, _ in request_through_middleware("not-ours", lambda: None)[0]] == [b"set-cookie"]


def test_a_download_is_handed_only_to_the_browser_it_was_made_for():
    storage = downloads.BrowserBoundStorage("/media")
    downloads.made_for(CLICKER)
    file_id = storage.load_and_get_id(b"a,b\n", "text/csv", MediaFileKind.DOWNLOADABLE, "table.csv")
    name = f"{file_id}.csv"
    assert storage.get_url(file_id).endswith(name)  # building the address is no fetch

    assert isinstance(request_through_middleware(OTHER, lambda: storage.get_file(name))[1], MediaFileStorageError)
    assert isinstance(request_through_middleware(None, lambda: storage.get_file(name))[1], MediaFileStorageError)
    with pytest.raises(MediaFileStorageError):  # a request that did not pass the middleware at all
        storage.get_file(name)
    assert request_through_middleware(CLICKER, lambda: storage.get_file(name))[1].content == b"a,b\n"

    # The same file made for a second browser: both get it; a file made for no browser, no one.
    downloads.made_for(OTHER)
    assert storage.load_and_get_id(b"a,b\n", "text/csv", MediaFileKind.DOWNLOADABLE, "table.csv") == file_id
    assert request_through_middleware(OTHER, lambda: storage.get_file(name))[1].content == b"a,b\n"
    orphan = storage.load_and_get_id(b"c\n", "text/csv", MediaFileKind.DOWNLOADABLE, "other.csv")
    assert isinstance(request_through_middleware(CLICKER, lambda: storage.get_file(f"{orphan}.csv"))[1], MediaFileStorageError)
    # Forgotten: no browser gets it back.
    storage.delete_file(file_id)
    assert isinstance(request_through_middleware(CLICKER, lambda: storage.get_file(name))[1], MediaFileStorageError)


def test_images_and_other_media_are_left_alone():
    storage = downloads.BrowserBoundStorage("/media")
    file_id = storage.load_and_get_id(b"\x89PNG", "image/png", MediaFileKind.MEDIA, None)
    assert storage.get_file(f"{file_id}.png").content == b"\x89PNG"
