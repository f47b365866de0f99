"""Downloads served once: the file a download button makes on click is handed to the browser that
clicked and then forgotten, so its address (/media/<id>.csv) works for no one else, signed in or not.

Streamlit 1.67 serves /media/ without looking at the session, and keeps a download until the end
of the second page run after it that no session refers to. It has no setting for either, so the
server's one media store (`Runtime.media_file_mgr`'s memory storage) is given, once per process,
a subclass whose lookup by the /media route deletes a downloadable file as it hands it over.
Images and other media are left alone; building a file's address is a lookup that deletes
nothing. tests/test_browser_downloads.py proves it against the real server, so an upgrade of
Streamlit that changes the store fails there, not silently."""
from __future__ import annotations

import os
import threading

from streamlit.runtime import Runtime
from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage

_handing_over = threading.Lock()
_building_address = threading.local()


class _ServedOnce(MemoryMediaFileStorage):
    def get_file(self, filename: str) -> MemoryFile:
        """The /media route's lookup: a downloadable file is removed as it is served."""
        with _handing_over:  # two requests at once: one gets the file, the other a 404
            media = super().get_file(filename)
            if media.kind == MediaFileKind.DOWNLOADABLE and not getattr(_building_address, "active", False):
                self.delete_file(os.path.splitext(filename)[0])
        return media

    def get_url(self, file_id: str) -> str:
        _building_address.active = True  # get_url looks the file up to name its extension
        try:
            return super().get_url(file_id)
        finally:
            _building_address.active = False


def serve_downloads_once() -> None:
    """Make the running server hand each downloadable file out once (idempotent). Does nothing
    where there is no server (AppTest runs pages without one) or the store is not Streamlit's
    memory store."""
    if not Runtime.exists():
        return
    storage = Runtime.instance().media_file_mgr._storage  # noqa: SLF001 - no public accessor in 1.67
    if type(storage) is MemoryMediaFileStorage:
        storage.__class__ = _ServedOnce
