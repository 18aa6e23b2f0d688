"""Issue 19 findings 1 and 6 on the dashboard and the CSV commands: refused input leaves nothing behind.

Each path (quick form, upload page, import commands, admin) is checked for its answer and
then for the database: no import job, no contact, no touchpoint, no transition; the
pages that used to 500 on such rows answer 200.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from contacts.import_runs import import_run
from contacts.importing import import_start, import_upload
from contacts.models import Contact, ImportJob, Touchpoint
from stages.models import StageTransition

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def _pages_answer(client, contact=None) -> None:
    assert client.get(reverse("web:contact_list")).status_code == 200
    export = client.get(reverse("web:contact_export"))
    assert export.status_code == 200
    b"".join(export.streaming_content)  # the stream completes
    if contact is not None:
        assert client.get(reverse("web:contact_detail", args=[contact.pk])).status_code == 200


@pytest.mark.parametrize("when", ["0001-01-01T00:00", "1850-06-01T10:00", "2999-01-01T00:00"])
def test_quick_form_refuses_a_date_out_of_range(admin_client, rep_contact, when):
    response = admin_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]),
        {"kind": "purchase", "channel": "web", "amount": "5.00", "occurred_at": when},
        **JSON,
    )
    assert response.status_code == 400
    assert "occurred_at" in response.json()["errors"]
    assert not Touchpoint.objects.filter(contact=rep_contact).exists()
    _pages_answer(admin_client, rep_contact)


@pytest.mark.parametrize("kind", ["contacts", "touchpoints"])
def test_upload_page_refuses_a_csv_with_a_nul_byte(marketer_client, kind):
    raw = b"email,first_name\nann@example.com,A\x00nn\n"
    response = marketer_client.post(
        reverse("web:import_list"), {"kind": kind, "file": SimpleUploadedFile("nul.csv", raw, content_type="text/csv")}
    )
    assert response.status_code == 200
    assert "NUL byte (line 2)" in response.content.decode()
    assert not ImportJob.objects.exists() and not Contact.objects.exists()


@pytest.mark.parametrize("command", ["import_contacts", "import_touchpoints"])
def test_import_commands_refuse_a_csv_with_a_nul_byte(tmp_path, command):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"email,first_name\nann@example.com,A\x00nn\n")
    with pytest.raises(CommandError, match="NUL byte"):
        call_command(command, str(path))
    assert not ImportJob.objects.exists() and not Contact.objects.exists()


def test_contact_import_rejects_rows_with_dates_out_of_range_and_keeps_the_good_ones(tmp_path, capsys):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,acquired_at\n"
        "good@example.com,Good,2025-01-02\n"
        "old@example.com,Old,0001-01-01T00:00:00+14:00\n"
        "future@example.com,Future,2999-01-01\n"
    )
    call_command("import_contacts", str(path))
    out = capsys.readouterr().out
    assert "1 created" in out and "2 rejected" in out
    assert list(Contact.objects.values_list("email", flat=True)) == ["good@example.com"]
    assert StageTransition.objects.count() == 1


def test_touchpoint_import_rejects_a_year_zero_purchase_and_the_contact_keeps_its_stage(tmp_path, rep_contact):
    stage_before = rep_contact.stage_id
    path = tmp_path / "touchpoints.csv"
    path.write_text(
        "contact_email,kind,occurred_at,amount\n"
        f"{rep_contact.email},purchase,0001-01-01T00:00:00+14:00,10.00\n"
        f"{rep_contact.email},purchase,1899-12-31,10.00\n"
    )
    call_command("import_touchpoints", str(path))
    assert not Touchpoint.objects.filter(contact=rep_contact).exists()
    rep_contact.refresh_from_db()
    assert rep_contact.stage_id == stage_before
    job = ImportJob.objects.get()
    assert job.rejected_count == 2


def test_contact_import_refuses_attributes_with_a_nul_written_as_escape_free_text():
    """A NUL can only arrive in a CSV as a byte, which the file check refuses; the service refuses it too."""
    from django.core.exceptions import ValidationError

    from contacts.services import contact_create

    with pytest.raises(ValidationError) as refused:
        contact_create(data={"email": "x@example.com", "attributes": {"note\x00": "x"}})
    assert "attributes" in refused.value.message_dict
    assert not Contact.objects.exists()


def test_import_upload_of_a_clean_file_still_works():
    job = import_upload(kind="contacts", file_name="ok.csv", raw=b"email\nok@example.com\n")
    job = import_run(job_id=import_start(job=job, mapping=job.mapping, enqueue=False).pk)
    assert job.created_count == 1


def test_model_forms_such_as_the_admin_refuse_out_of_range_dates_and_nul_attributes(admin_client):
    """The admin's forms are ModelForms: the model fields carry the shared validators."""
    from django.forms import modelform_factory

    from contacts.services import contact_create

    contact = contact_create(data={"email": "adm@example.com"})
    form_class = modelform_factory(Contact, fields=["acquired_at", "attributes"])
    form = form_class(data={"acquired_at": "0001-01-01 00:00:00", "attributes": '{"k\\u0000": 1}'}, instance=contact)
    assert not form.is_valid()
    assert set(form.errors) == {"acquired_at", "attributes"}
    contact.refresh_from_db()
    assert contact.attributes == {}
    assert admin_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).status_code == 200
    _pages_answer(admin_client, contact)
