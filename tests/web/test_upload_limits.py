"""Issue 19 finding 10: DJANGO_MAX_REQUEST_BYTES bounds CSV uploads, checked before the body is read."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from contacts.models import Contact, ImportJob

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def _csv(size: int) -> bytes:
    header = b"email,first_name\n"
    row = b"someone@example.com,Someone\n"
    return header + row * ((size - len(header)) // len(row) + 1)


def test_a_25_mb_csv_is_refused_with_a_clear_413_and_nothing_is_stored(marketer_client, monkeypatch):
    import contacts.views.imports

    monkeypatch.setattr(contacts.views.imports, "import_upload", lambda **kw: pytest.fail("the upload was read"))
    upload = SimpleUploadedFile("big.csv", _csv(25 * MIB), content_type="text/csv")
    response = marketer_client.post(reverse("web:import_list"), {"kind": "contacts", "file": upload})
    assert response.status_code == 413
    body = response.content.decode()
    assert "at most 10 MB" in body and "Split the CSV" in body
    assert not ImportJob.objects.exists() and not Contact.objects.exists()


def test_the_declared_length_is_judged_before_a_byte_is_read(marketer_client):
    """A small body that claims to be large: refused on the header alone, so nothing read it."""
    response = marketer_client.generic(
        "POST",
        reverse("web:import_list"),
        b"kind=contacts",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(11 * MIB),
    )
    assert response.status_code == 413
    assert not ImportJob.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
def test_the_limit_follows_the_setting_and_smaller_files_still_import(marketer_client):
    big = SimpleUploadedFile("big.csv", _csv(8192), content_type="text/csv")
    assert marketer_client.post(reverse("web:import_list"), {"kind": "contacts", "file": big}).status_code == 413
    small = SimpleUploadedFile("small.csv", b"email,first_name\nann@example.com,Ann\n", content_type="text/csv")
    response = marketer_client.post(reverse("web:import_list"), {"kind": "contacts", "file": small})
    assert response.status_code == 302
    assert ImportJob.objects.count() == 1


def test_the_api_answers_413_as_json(marketer_client):
    response = marketer_client.generic(
        "POST", "/api/v1/touchpoints/", b"[]", content_type="application/json", CONTENT_LENGTH=str(11 * MIB)
    )
    assert response.status_code == 413
    assert "at most 10 MB" in response.json()["detail"]
