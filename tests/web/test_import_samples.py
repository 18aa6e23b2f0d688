"""Sample CSV templates on the import page (issue 21): every column the import reads, rows that import as they
are, and the accepted kinds and channels listed on the page."""

import pytest
from django.urls import reverse

from contacts.import_runs import import_run
from contacts.importing import import_start, import_upload
from contacts.models import Contact, Touchpoint

pytestmark = pytest.mark.django_db


def _sample(client, kind: str) -> str:
    response = client.get(reverse("web:import_sample_csv", args=[kind]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return response.content.decode()


def _run(kind: str, text: str, user):
    job = import_upload(kind=kind, file_name=f"sample-{kind}.csv", raw=text.encode(), user=user)
    job = import_start(job=job, mapping=job.mapping, enqueue=False)
    return import_run(job_id=job.pk)


def test_both_samples_import_as_they_are_with_no_rejected_row(marketer_client, marketer):
    contacts = _run("contacts", _sample(marketer_client, "contacts"), marketer)
    assert (contacts.status, contacts.created_count, contacts.rejected_count) == ("done", 2, 0)
    touchpoints = _run("touchpoints", _sample(marketer_client, "touchpoints"), marketer)
    assert (touchpoints.status, touchpoints.created_count, touchpoints.rejected_count) == ("done", 3, 0)
    assert Contact.objects.get(email="ada@example.com").external_id == "CUST-1001"
    assert str(Touchpoint.objects.get(external_id="ORDER-5001").amount) == "1200.50"


def test_the_import_page_links_the_samples_and_lists_kinds_and_channels(marketer_client):
    html = marketer_client.get(reverse("web:import_list")).content.decode()
    assert reverse("web:import_sample_csv", args=["contacts"]) in html
    assert reverse("web:import_sample_csv", args=["touchpoints"]) in html
    assert "<code>quote_request</code> Quote request" in html and "<code>paid_search</code> Paid search" in html


def test_an_unknown_sample_is_not_found_and_reps_get_none(marketer_client, rep_client):
    assert marketer_client.get(reverse("web:import_sample_csv", args=["deals"])).status_code == 404
    assert rep_client.get(reverse("web:import_sample_csv", args=["contacts"])).status_code == 403
