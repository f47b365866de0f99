"""Downloads served once: the file a download button makes on click is handed to the browser that
clicked and then forgotten, so its address (/media/<id>.csv) soon works for no one, signed in or not.

Streamlit 1.67 serves /media/ without looking at the session, and keeps a download until the end
of the second page run after it that no session refers to. It has no setting for either, so the
server's one media store (`Runtime.media_file_mgr`'s memory storage) is given, once per process,
a subclass whose lookup by the /media route deletes a downloadable file GRACE_SECONDS (30 s)
after it first hands it over. (Chromium fetches a PDF twice, once to look and once to save, so
the file cannot go at the first request.) Images and other media are left alone;
building a file's address is a lookup that starts nothing. tests/test_browser_downloads.py proves
it against the real server, so an upgrade of Streamlit that changes the store fails there."""
from __future__ import annotations

import os
import threading

from streamlit.runtime import Runtime
from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage

# How long the clicking browser's own fetches may take: Chromium fetches a PDF twice, and on a
# busy server the second request can come seconds after the first. CLINIC_DOWNLOAD_GRACE_SECONDS
# changes it (the browser test uses a short one).
GRACE_SECONDS = float(os.environ.get("CLINIC_DOWNLOAD_GRACE_SECONDS", "30"))

_building_address = threading.local()


class _ServedOnce(MemoryMediaFileStorage):
    def get_file(self, filename: str) -> MemoryFile:
        """The /media route's lookup: a downloadable file is forgotten shortly after it is first served."""
        media = super().get_file(filename)
        if media.kind == MediaFileKind.DOWNLOADABLE and not getattr(_building_address, "active", False):
            file_id = os.path.splitext(filename)[0]
            forget = threading.Timer(GRACE_SECONDS, self.delete_file, args=(file_id,))
            forget.daemon = True
            forget.start()
        return media

    def get_url(self, file_id: str) -> str:
        _building_address.active = True  # get_url looks the file up to name its extension
        try:
            return super().get_url(file_id)
        finally:
            _building_address.active = False


def serve_downloads_once() -> None:
    """Make the running server forget each downloadable file GRACE_SECONDS after it is first
    served (idempotent). Does nothing where there is no server (AppTest runs pages without one)
    or the store is not Streamlit's memory store."""
    if not Runtime.exists():
        return
    storage = Runtime.instance().media_file_mgr._storage  # noqa: SLF001 - no public accessor in 1.67
    if type(storage) is MemoryMediaFileStorage:
        storage.__class__ = _ServedOnce
