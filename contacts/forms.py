"""Forms of the contact pages: quick touchpoint, manual stage move, bulk actions, segments, import, merge."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from accounts.roles import SALES_REPS_GROUP
from contacts.models import AMOUNT_KINDS, SCORE_KINDS, Channel, ImportKind, TouchpointKind
from lifecycle_crm.validation import validate_moment
from stages.models import Stage

# The kinds a rep logs by hand, first the everyday ones (the quick form shows these as buttons).
QUICK_KINDS = [
    TouchpointKind.CALL,
    TouchpointKind.MEETING,
    TouchpointKind.EMAIL_SENT,
    TouchpointKind.DEMO,
    TouchpointKind.QUOTE_REQUEST,
    TouchpointKind.PURCHASE,
    TouchpointKind.SURVEY_RESPONSE,
    TouchpointKind.NOTE,
]
DEFAULT_CHANNEL_FOR_KIND = {
    TouchpointKind.CALL: Channel.PHONE,
    TouchpointKind.MEETING: Channel.IN_PERSON,
    TouchpointKind.EMAIL_SENT: Channel.EMAIL,
    TouchpointKind.DEMO: Channel.WEB,
    TouchpointKind.QUOTE_REQUEST: Channel.EMAIL,
    TouchpointKind.PURCHASE: Channel.WEB,
    TouchpointKind.SURVEY_RESPONSE: Channel.EMAIL,
    TouchpointKind.NOTE: Channel.OTHER,
}


def owner_choices_queryset():
    """Users who can own contacts: sales reps and admins, active."""
    return (
        get_user_model()
        .objects.filter(Q(groups__name=SALES_REPS_GROUP) | Q(is_staff=True), is_active=True)
        .distinct()
        .order_by("username")
    )


class QuickTouchpointForm(forms.Form):
    """Log one touchpoint on a contact; the service does the real validation (amount/score by kind)."""

    kind = forms.ChoiceField(choices=TouchpointKind.choices, initial=TouchpointKind.CALL)
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE)
    occurred_at = forms.DateTimeField(
        required=False,
        validators=[validate_moment],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for now.",
    )
    note = forms.CharField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2}))
    amount = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=2)
    score = forms.IntegerField(required=False, min_value=0, max_value=10)

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in AMOUNT_KINDS and data.get("amount") is None:
            self.add_error("amount", "A purchase or refund needs its amount.")
        if kind not in AMOUNT_KINDS and data.get("amount") is not None:
            self.add_error("amount", "Only purchases and refunds carry an amount.")
        if kind not in SCORE_KINDS and data.get("score") is not None:
            self.add_error("score", "Only survey responses carry a score.")
        return data

    def service_data(self, *, contact_id: int) -> dict:
        data = self.cleaned_data
        out = {"contact": contact_id, "kind": data["kind"], "channel": data["channel"], "note": data.get("note") or ""}
        out["occurred_at"] = data.get("occurred_at") or timezone.now()
        if data.get("amount") is not None:
            out["amount"] = data["amount"]
        if data.get("score") is not None:
            out["score"] = data["score"]
        return out


class MoveStageForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.filter(is_active=True), to_field_name="slug")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class BulkActionForm(forms.Form):
    ACTIONS = [("assign_owner", "Assign owner"), ("add_tag", "Add tag"), ("move_stage", "Move to stage")]

    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], error_messages={"required": "Tick some contacts."})
    owner = forms.ModelChoiceField(queryset=owner_choices_queryset(), required=False)
    tag = forms.CharField(max_length=64, required=False)
    stage = forms.ModelChoiceField(queryset=Stage.objects.filter(is_active=True), to_field_name="slug", required=False)
    reason = forms.CharField(max_length=2000, required=False)
    back = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_choices_queryset()
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw if str(v).isdigit()]

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign_owner" and not data.get("owner"):
            self.add_error("owner", "Choose the new owner.")
        if action == "add_tag" and not (data.get("tag") or "").strip():
            self.add_error("tag", "Type the tag to add.")
        if action == "move_stage":
            if not data.get("stage"):
                self.add_error("stage", "Choose the stage.")
            if not (data.get("reason") or "").strip():
                self.add_error("reason", "Say why; the reason is kept in each contact's history.")
        return data


class SaveSegmentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    query = forms.CharField(required=False, widget=forms.HiddenInput, max_length=4000)


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=ImportKind.choices, widget=forms.RadioSelect, initial=ImportKind.CONTACTS)
    file = forms.FileField(help_text="A CSV file in UTF-8 whose first line names the columns.")

    def clean_file(self):
        # The request size limit (lifecycle_crm.request_limits) already refused larger bodies
        # before they were read; this names the rule on the form as well.
        upload = self.cleaned_data["file"]
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if upload.size > limit:
            raise forms.ValidationError(f"At most {limit // (1024 * 1024)} MB per file; split larger files.")
        return upload


class MergeForm(forms.Form):
    survivor = forms.IntegerField(min_value=1)
    other = forms.IntegerField(min_value=1)

    def clean(self):
        data = super().clean()
        if data.get("survivor") and data.get("survivor") == data.get("other"):
            raise forms.ValidationError("Choose two different contacts.")
        return data
