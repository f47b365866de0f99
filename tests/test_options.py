"""The filter sidebar's choices come from what is stored."""
import datetime as dt

from analytics import options
from conftest import visit


def test_filter_options_lists_only_stored_values_in_the_clinics_order(clinic_db):
    con = clinic_db([
        visit("E1", 1, "2025-03-03", 8, 6, therapist_name="Thea Grove", severity="severe"),
        visit("E1", 2, "2025-03-10", 6, 4, therapist_name="Thea Grove", severity="severe"),
        visit("E2", 1, "2025-01-15", 7, 6, therapist_id="T2", condition="shin_splints", course_type="chronic",
              clinic_id="north", severity="mild"),
        visit("E3", 1, "2025-06-30", 5, 4, therapist_id="T2", condition="bunion", clinic_id="north"),
    ])
    choices = options.filter_options(con)
    assert choices.clinics == {"main": "main", "north": "north"}
    assert choices.therapists == {"T2": "T2", "T1": "Thea Grove"}  # sorted by name; no name -> id
    # config.CONDITIONS order (plantar fasciitis, bunion, ..., shin splints), not alphabetical
    assert choices.conditions == ("plantar_fasciitis", "bunion", "shin_splints")
    assert choices.course_types == ("acute", "chronic")
    assert choices.severities == ("mild", "severe")  # E3 has none; moderate never occurs
    assert (choices.first_start, choices.last_start) == (dt.date(2025, 1, 15), dt.date(2025, 6, 30))


def test_filter_options_of_an_empty_database(clinic_db):
    choices = options.filter_options(clinic_db())
    assert choices.clinics == {} and choices.therapists == {} and choices.conditions == ()
    assert choices.first_start is None and choices.last_start is None
