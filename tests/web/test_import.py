"""CSV import: column suggestions, preview, background run with progress, rejected rows, idempotent re-import."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from contacts import import_runs
from contacts.import_rows import ImportFileError
from contacts.import_runs import import_run
from contacts.importing import import_start, import_upload, mapping_suggest
from contacts.models import Contact, ImportJob, ImportStatus, Touchpoint
from stages.models import StageTransition

pytestmark = pytest.mark.django_db

CONTACTS_CSV = (
    "E-mail,First Name,Surname,Company,Tags,Channel,Signup Date,Shoe size\n"
    "ann@example.com,Ann,Lee,Acme,vip;b2b,email,2025-01-02,38\n"
    "not-an-email,Bob,B,,,,,\n"
    "cy@example.com,Cy,C,,,carrier pigeon,,\n"
    "di@example.com,Di,D,,,web,2025-13-01,\n"
    f"eve@example.com,Eve,E,,{'x' * 70},,,\n"
)
TOUCHPOINTS_CSV = (
    "customer_email,type,date,value,note\n"
    "ann@example.com,purchase,2025-02-01,10.50,first\n"
    "ann@example.com,site_visit,2025-02-02,,\n"
    "nobody@example.com,call,2025-02-02,,\n"
    "ann@example.com,purchase,2025-02-03,,no amount\n"
    "ann@example.com,dance,2025-02-03,,\n"
)


def _run(kind: str, text: str, mapping: dict | None = None, user=None) -> ImportJob:
    job = import_upload(kind=kind, file_name=f"{kind}.csv", raw=text.encode(), user=user)
    job = import_start(job=job, mapping=mapping or job.mapping, enqueue=False)
    return import_run(job_id=job.pk)


def test_columns_are_matched_to_fields_by_name_and_synonym():
    suggestion = mapping_suggest(kind="contacts", headers=["E-mail", "First Name", "Surname", "Mobile", "Whatever"])
    assert suggestion == {
        "E-mail": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "Mobile": "phone",
        "Whatever": "",
    }
    touch = mapping_suggest(kind="touchpoints", headers=["customer_email", "type", "date", "value"])
    assert touch == {"customer_email": "contact_email", "type": "kind", "date": "occurred_at", "value": "amount"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"email,email\na@x.com,b@x.com\n", "unique"),
        (b"email\n", "no rows"),
        ("email\nmüller@x.com\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(raw, message):
    with pytest.raises(ImportFileError, match=message):
        import_upload(kind="contacts", file_name="f.csv", raw=raw)
    assert not ImportJob.objects.exists()


def test_contact_import_stores_good_rows_and_rejects_each_bad_row_with_its_reason(marketer):
    job = _run("contacts", CONTACTS_CSV, None, marketer)
    job_mapping = dict(job.mapping)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.rejected_count, job.processed_rows, job.total_rows) == (1, 4, 5, 5)
    reasons = {r.row_number: r.reason for r in job.rejections.all()}
    assert "E-mail" in reasons[3] and "valid email" in reasons[3]
    assert "Channel" in reasons[4] and "channel" in reasons[4]
    assert "Signup Date" in reasons[5]
    assert "64 characters" in reasons[6]
    assert job_mapping["Shoe size"] == ""
    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.company, ann.acquisition_channel) == ("Ann", "Lee", "Acme", "email")
    assert sorted(ann.tags.values_list("name", flat=True)) == ["b2b", "vip"]
    assert StageTransition.objects.get(contact=ann).source == "import"
    # The row whose tag failed after its contact was inserted left nothing behind.
    assert not Contact.objects.filter(email="eve@example.com").exists()


def test_unmapped_columns_can_be_kept_as_custom_attributes():
    mapping = mapping_suggest(kind="contacts", headers=CONTACTS_CSV.splitlines()[0].split(","))
    mapping["Shoe size"] = "attribute"
    _run("contacts", CONTACTS_CSV, mapping)
    assert Contact.objects.get(email="ann@example.com").attributes == {"Shoe size": "38"}


def test_reimporting_the_same_contacts_creates_no_duplicates_and_writes_nothing():
    _run("contacts", CONTACTS_CSV)
    again = _run("contacts", CONTACTS_CSV)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 1)
    assert Contact.objects.count() == 1
    assert StageTransition.objects.count() == 1


def test_reimport_with_changed_values_updates_the_matched_contact():
    _run("contacts", "email,company,external_id\nann@example.com,Acme,C-1\n")
    job = _run("contacts", "email,company,external_id\nANN@example.com,Acme Ltd,C-1\n")
    assert (job.created_count, job.updated_count) == (0, 1)
    assert Contact.objects.get().company == "Acme Ltd"


def test_touchpoint_import_rejects_bad_rows_whole_and_stores_the_rest():
    _run("contacts", "email\nann@example.com\n")
    job = _run("touchpoints", TOUCHPOINTS_CSV)
    assert (job.created_count, job.rejected_count) == (2, 3)
    reasons = {r.row_number: r.reason for r in job.rejections.all()}
    assert "No contact matches 'nobody@example.com'" in reasons[4]
    assert "value" in reasons[5] and "amount" in reasons[5]
    assert "type" in reasons[6] and "'dance'" in reasons[6]
    stored = Touchpoint.objects.order_by("occurred_at")
    assert [(t.kind, str(t.amount)) for t in stored] == [("purchase", "10.50"), ("site_visit", "None")]
    assert {t.source for t in stored} == {"import"}


def test_reimporting_touchpoints_without_external_ids_creates_no_duplicates():
    _run("contacts", "email\nann@example.com\n")
    _run("touchpoints", TOUCHPOINTS_CSV)
    again = _run("touchpoints", TOUCHPOINTS_CSV)
    assert (again.created_count, again.unchanged_count, again.rejected_count) == (0, 2, 3)
    assert Touchpoint.objects.count() == 2


def test_progress_is_reported_after_every_committed_chunk(monkeypatch):
    monkeypatch.setattr(import_runs, "TOUCHPOINT_CHUNK", 2)
    _run("contacts", "email\nann@example.com\n")
    rows = "".join(f"ann@example.com,site_visit,2025-03-{d:02d}\n" for d in range(1, 8))
    job = import_upload(kind="touchpoints", file_name="t.csv", raw=("contact_email,kind,occurred_at\n" + rows).encode())
    import_start(job=job, mapping=job.mapping, enqueue=False)
    seen = []
    import_run(job_id=job.pk, progress=lambda j: seen.append((j.status, j.processed_rows)))
    assert seen == [("running", 2), ("running", 4), ("running", 6), ("done", 7)]


def test_a_job_runs_once_even_if_two_workers_get_it():
    job = import_upload(kind="contacts", file_name="c.csv", raw=b"email\na@example.com\n")
    import_start(job=job, mapping=job.mapping, enqueue=False)
    first = import_run(job_id=job.pk)
    second = import_run(job_id=job.pk)
    assert first.status == second.status == ImportStatus.DONE
    assert second.created_count == 1 and Contact.objects.count() == 1


def test_mapping_without_the_required_field_cannot_start():
    job = import_upload(kind="touchpoints", file_name="t.csv", raw=b"who,what\na@x.com,call\n")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Contact"):
        import_start(job=job, mapping={"who": "", "what": "kind"})
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_upload_map_preview_start_and_status_through_the_pages(marketer_client, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("people.csv", CONTACTS_CSV.encode(), content_type="text/csv")
    response = marketer_client.post(reverse("web:import_list"), {"kind": "contacts", "file": upload})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("web:import_detail", args=[job.pk])
    page = marketer_client.get(response["Location"])
    assert [c[2] for c in page.context["columns"]][:3] == ["email", "first_name", "last_name"]
    preview = page.context["preview"]
    assert preview[0].problem == "" and "valid email" in preview[1].problem
    mapping = {f"map_{i}": target for i, _, target, _ in page.context["columns"]}
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(response["Location"], mapping | {"start": "1"})
    status = marketer_client.get(reverse("web:import_status", args=[job.pk])).json()
    assert status["finished"] and status["percent"] == 100
    assert (status["created"], status["rejected"]) == (1, 4)
    results = marketer_client.get(response["Location"])
    assert b"is not a valid email address" in results.content
    rejected_csv = marketer_client.get(reverse("web:import_rejections_csv", args=[job.pk])).content.decode()
    assert rejected_csv.splitlines()[0].startswith("row,reason,E-mail")


def test_map_page_shows_mapping_errors(marketer_client):
    job = import_upload(kind="contacts", file_name="c.csv", raw=b"mail,name\na@x.com,A\n")
    response = marketer_client.post(reverse("web:import_detail", args=[job.pk]), {"map_0": "", "map_1": "first_name"})
    assert "Email" in response.context["errors"]["__all__"]
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_bad_upload_shows_a_form_error(marketer_client):
    upload = SimpleUploadedFile("x.csv", b"email\n", content_type="text/csv")
    response = marketer_client.post(reverse("web:import_list"), {"kind": "contacts", "file": upload})
    assert response.status_code == 200
    assert "no rows" in " ".join(response.context["form"].errors["file"])


def test_reps_cannot_import(rep_client):
    assert rep_client.get(reverse("web:import_list")).status_code == 403


def test_commands_use_the_same_path(tmp_path, capsys):
    contacts_file = tmp_path / "c.csv"
    contacts_file.write_text(CONTACTS_CSV)
    touch_file = tmp_path / "t.csv"
    touch_file.write_text(TOUCHPOINTS_CSV)
    call_command("import_contacts", str(contacts_file), "--map", "Shoe size=attribute")
    call_command("import_touchpoints", str(touch_file))
    out = capsys.readouterr().out
    assert "1 created" in out and "4 rejected" in out and "2 created" in out
    assert "row 4: customer_email: No contact matches 'nobody@example.com'." in out
    assert Contact.objects.get().attributes == {"Shoe size": "38"}
    assert json.loads(json.dumps(ImportJob.objects.first().mapping))
