"""Thin views of plays: list and detail with reporting, pause/activate, "My tasks" (and a rep's own tasks), and
unsubscribe."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import get_template, select_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Role, user_role
from contacts.forms import TaskForm
from contacts.models import Contact
from contacts.selectors import contact_can_write, contact_get
from plays import rendering, selectors, services
from plays.editing import play_email_preview, play_email_test_send, play_save
from plays.forms import PlayActionFormSet, PlayForm, TemplatePreviewForm
from plays.models import ActionType, Play, PlayAction, Task, TaskStatus


def _layout():
    """The site's base layout once the dashboard's routes exist (it links to them), else a stand-alone layout."""
    try:
        reverse("web:home")
    except NoReverseMatch:
        return get_template("plays/standalone_base.html")
    return select_template(["base.html", "plays/standalone_base.html"])


def _web_contacts() -> bool:
    """Whether the dashboard's contact pages exist to link to."""
    try:
        reverse("web:contact_detail", args=[1])
    except NoReverseMatch:
        return False
    return True


def _require_marketer(request: HttpRequest) -> None:
    if user_role(request.user) not in (Role.ADMIN, Role.MARKETER):
        raise PermissionDenied("Plays are managed by marketers and admins.")


@login_required
def play_list_view(request: HttpRequest) -> HttpResponse:
    _require_marketer(request)
    plays = list(selectors.play_list())
    reports = selectors.play_report(play_ids=[p.pk for p in plays])
    rows = [(play, reports[play.pk]) for play in plays]
    return render(request, "plays/play_list.html", {"layout": _layout(), "rows": rows})


@login_required
def play_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_marketer(request)
    play = get_object_or_404(selectors.play_list(), pk=pk)
    actions = list(play.actions.select_related("tag", "campaign", "stage").order_by("position", "id"))
    sample = _sample_contact(play) or _stand_in_contact()
    # Emails are shown as the contact will read them (rendered on a real contact), never as template code.
    for action in actions:
        if action.action_type == ActionType.SEND_EMAIL and sample is not None:
            action.preview = rendering.email_render(action=action, contact=sample, play=play)
        if action.action_type == ActionType.CREATE_TASK and sample is not None:
            context = rendering.email_context(contact=sample, play=play)
            action.task_preview = rendering.render_text(source=action.task_title, context=context)
    context = {
        "layout": _layout(),
        "play": play,
        "actions": actions,
        "sample": sample,
        "audience": selectors.play_audience_preview(play=play),
        "report": selectors.play_report(play_ids=[play.pk])[play.pk],
        "runs": selectors.play_recent_runs(play_id=play.pk),
    }
    return render(request, "plays/play_detail.html", context)


@login_required
@require_POST
def play_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_marketer(request)
    play = get_object_or_404(Play, pk=pk)
    try:
        play = services.play_set_status(play=play, status=request.POST.get("status", ""))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"“{play.name}” is now {play.get_status_display().lower()}.")
    return redirect("web:plays:play_detail", pk=play.pk)


class TaskCompleteForm(forms.Form):
    outcome = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), strip=True)


@login_required
def my_tasks_view(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    status = TaskStatus.DONE if show == "done" else TaskStatus.OPEN
    tasks = selectors.task_list_for_user(user=request.user, status=status)[:200]
    return render(
        request,
        "plays/my_tasks.html",
        {
            "layout": _layout(),
            "tasks": tasks,
            "show": show,
            "today": timezone.localdate(),
            "web_contacts": _web_contacts(),
        },
    )


@login_required
@require_POST
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=pk)
    if task.owner_id != request.user.pk and user_role(request.user) != Role.ADMIN:
        raise Http404("No such task.")
    form = TaskCompleteForm(request.POST)
    if form.is_valid():
        try:
            services.task_complete(task=task, user=request.user, outcome=form.cleaned_data["outcome"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Done: {task.title}")
            return redirect("web:plays:my_tasks")
    tasks = selectors.task_list_for_user(user=request.user)[:200]
    context = {
        "layout": _layout(),
        "tasks": tasks,
        "show": "open",
        "today": timezone.localdate(),
        "web_contacts": _web_contacts(),
        "failed": task,
        "failed_form": form,
    }
    return render(request, "plays/my_tasks.html", context, status=400)


@login_required
@require_POST
def task_create_view(request: HttpRequest, contact_pk: int) -> HttpResponse:
    """A rep sets themselves a task about one of their contacts (from the contact page)."""
    contact = contact_get(user=request.user, pk=contact_pk)
    if contact is None:
        raise Http404("No such contact.")
    if user_role(request.user) not in (Role.SALES_REP, Role.ADMIN) or not contact_can_write(
        user=request.user, contact=contact
    ):
        raise PermissionDenied("Reps set tasks on the contacts they own.")
    form = TaskForm(request.POST)
    if form.is_valid():
        try:
            task = services.task_create(owner=request.user, contact=contact, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Task “{task.title}” added to My tasks, due {task.due_on:%d %b %Y}.")
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    return redirect("web:contact_detail", pk=contact.pk)


@csrf_exempt  # the signed token is the credential; mail clients' one-click POST (RFC 8058) carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation (link scanners must not unsubscribe anyone); POST withdraws consent."""
    contact_id = rendering.unsubscribe_contact_id(token=token)
    contact = Contact.objects.filter(pk=contact_id).first() if contact_id else None
    if contact is None:
        return render(request, "plays/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        contact = services.contact_unsubscribe(contact_id=contact.pk)
        done = True
    return render(
        request,
        "plays/unsubscribe.html",
        {"contact": contact, "done": done, "already": contact.unsubscribed_at is not None and not done},
    )


# --- the play editor (issue 21) ---------------------------------------------------------------------


def _sample_contact(play: Play | None, contact_id: int | None = None) -> Contact | None:
    """A real contact to render templates on: the one asked for, else one the play would reach, else any."""
    if contact_id:
        found = Contact.objects.select_related("stage", "owner").filter(pk=contact_id).first()
        if found is not None:
            return found
    if play is not None and play.pk:
        sample = selectors.play_audience_preview(play=play, sample_size=1).sample
        if sample:
            return sample[0]
    return Contact.objects.select_related("stage", "owner").order_by("-id").first()


def _stand_in_contact() -> Contact:
    """An unsaved contact to write emails for when the database has none yet (a fresh install)."""
    from stages.models import Stage

    return Contact(pk=0, first_name="", last_name="", email="someone@example.com", stage=Stage.objects.first())


def _play_editor(request: HttpRequest, play: Play) -> HttpResponse:
    form = PlayForm(request.POST or None, instance=play)
    formset = PlayActionFormSet(request.POST or None, instance=play, prefix="actions")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        candidate = form.save(commit=False)
        actions = [f.save(commit=False) for f in formset.forms if f.has_changed() and f not in formset.deleted_forms]
        actions += [f.instance for f in formset.forms if not f.has_changed() and f.instance.pk]
        actions.sort(key=lambda a: a.position if a.pk else 10**4)
        try:
            saved = play_save(play=candidate, actions=actions, deleted=[f.instance for f in formset.deleted_forms])
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    target = form if field in form.fields else None
                    if target is not None:
                        form.add_error(field, errors)
                    else:
                        form.add_error(None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            messages.success(request, f"Play “{saved.name}” saved. It is {saved.get_status_display().lower()}.")
            return redirect("web:plays:play_detail", pk=saved.pk)
    sample = _sample_contact(play if play.pk else None)
    return render(
        request,
        "plays/play_form.html",
        {"layout": _layout(), "form": form, "formset": formset, "play": play, "sample": sample},
    )


@login_required
def play_create_view(request: HttpRequest) -> HttpResponse:
    """A new play (saved paused): trigger, conditions, actions, with a live preview of its emails."""
    _require_marketer(request)
    return _play_editor(request, Play(status="paused"))


@login_required
def play_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a play and its actions."""
    _require_marketer(request)
    return _play_editor(request, get_object_or_404(Play, pk=pk))


@login_required
@require_POST
def play_preview_view(request: HttpRequest) -> JsonResponse:
    """An email template rendered on a real contact, for the editor's live preview (nothing stored or sent)."""
    _require_marketer(request)
    form = TemplatePreviewForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "errors": {"": ["The preview could not be read."]}}, status=400)
    data = form.cleaned_data
    contact = _sample_contact(None, data.get("contact"))
    if contact is None:
        return JsonResponse({"ok": False, "errors": {"": ["There is no contact to preview on yet."]}}, status=400)
    result = play_email_preview(
        subject=data["subject"], body_text=data["body_text"], body_html=data["body_html"], contact=contact, play=None
    )
    result["contact"] = contact.full_name or contact.email
    return JsonResponse(result, status=200 if result["ok"] else 400)


@login_required
@require_POST
def play_test_send_view(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    """Send one email of the play, rendered on a real contact, to the marketer's own address."""
    _require_marketer(request)
    action = get_object_or_404(PlayAction.objects.select_related("play"), pk=action_pk, play_id=pk)
    contact = _sample_contact(action.play)
    try:
        play_email_test_send(action=action, contact=contact, to=request.user.email)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Test email sent to {request.user.email}, written for {contact.full_name}.")
    return redirect("web:plays:play_detail", pk=pk)
