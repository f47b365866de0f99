"""What the pages share: the guard (a signed-in connection and the metric cache), the page
opening, filters, tables, charts and forms. Pages import from here; nothing here is a page.

The calls nearly every page makes are named at the top (`ui.clinic_page`, `ui.metric`); the
rest is used through its module (`from ui import charts, tables`)."""
from ui.guard import audit_event, audit_once, metric
from ui.page import clinic_page, manager_clinic_page, manager_page, nothing_matches, sections

__all__ = ["audit_event", "audit_once", "clinic_page", "manager_clinic_page", "manager_page", "metric", "nothing_matches", "sections"]
