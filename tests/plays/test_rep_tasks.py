"""Reps set their own tasks on their contacts; an empty My tasks says where tasks come from (issue 21)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from plays.models import Task
from tests.web.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep_web(rep):
    return login(rep)


def test_a_rep_sets_a_task_on_their_contact_and_finds_it_in_my_tasks(rep_web, rep, rep_contact):
    due = timezone.localdate() + dt.timedelta(days=3)
    page = rep_web.get(reverse("web:contact_detail", args=[rep_contact.pk])).content.decode()
    assert "Set a task" in page
    response = rep_web.post(
        reverse("web:plays:task_create", args=[rep_contact.pk]), {"title": "Send the price list", "due_on": due}
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.owner, task.contact, task.title, task.due_on, task.run) == (
        rep,
        rep_contact,
        "Send the price list",
        due,
        None,
    )
    assert "Send the price list" in rep_web.get(reverse("web:plays:my_tasks")).content.decode()


def test_a_rep_cannot_set_tasks_on_someone_elses_contact(rep_web, other_contact):
    response = rep_web.post(
        reverse("web:plays:task_create", args=[other_contact.pk]), {"title": "x", "due_on": "2026-12-24"}
    )
    assert response.status_code == 403
    assert not Task.objects.exists()


def test_a_task_without_a_title_is_refused_in_plain_words(rep_web, rep_contact):
    response = rep_web.post(
        reverse("web:plays:task_create", args=[rep_contact.pk]), {"title": "", "due_on": "2026-12-24"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["Say what is to be done."]
    assert not Task.objects.exists()


def test_an_empty_my_tasks_says_where_tasks_come_from(rep_web):
    html = rep_web.get(reverse("web:plays:my_tasks")).content.decode()
    assert "Tasks come from two places" in html and "Set a task" in html


@pytest.fixture
def rep_contact(rep):
    from tests.factories import ContactFactory

    return ContactFactory(owner=rep, email="owned@example.com")


@pytest.fixture
def other_contact(other_rep):
    from tests.factories import ContactFactory

    return ContactFactory(owner=other_rep, email="theirs@example.com")
