"""Forms of the contact pages: quick touchpoint, manual stage move, bulk actions, segments, import, merge."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from accounts.roles import SALES_REPS_GROUP, Role
from contacts.amounts import amount_parse
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
    amount = forms.CharField(required=False, max_length=40)
    score = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10,
        error_messages={
            "invalid": "The score is a whole number from 0 to 10.",
            "min_value": "The score is a whole number from 0 to 10.",
            "max_value": "The score is a whole number from 0 to 10.",
        },
    )

    def __init__(self, *args, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        self.language = language

    def clean_amount(self):
        """The amount in the user's own number format ("1,200.50" in English, "1.200,50" in German)."""
        text = (self.cleaned_data.get("amount") or "").strip()
        if not text:
            return None
        amount = amount_parse(text, language=self.language)
        if amount < 0:
            raise forms.ValidationError("An amount cannot be negative; log a refund instead.")
        if amount.as_tuple().exponent < -2 or abs(amount) >= 10**10:
            raise forms.ValidationError("Give the amount with at most two decimals and below 10 billion.")
        return amount

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in AMOUNT_KINDS and data.get("amount") is None and "amount" not in self.errors:
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


def bulk_actions_for(role: str | None) -> list[tuple[str, str]]:
    """The bulk actions the role may choose on the contact list."""
    if role == Role.MARKETER:
        return [a for a in BulkActionForm.ACTIONS if a[0] != "move_stage"]
    if role == Role.SALES_REP:
        return [a for a in BulkActionForm.ACTIONS if a[0] != "export"]
    return list(BulkActionForm.ACTIONS)


class BulkActionForm(forms.Form):
    ACTIONS = [
        ("assign_owner", "Assign owner"),
        ("add_tag", "Add tag"),
        ("move_stage", "Move to stage"),
        ("export", "Export as CSV"),
    ]

    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], error_messages={"required": "Tick some contacts."})
    owner = forms.ModelChoiceField(queryset=owner_choices_queryset(), required=False)
    tag = forms.CharField(max_length=64, required=False)
    stage = forms.ModelChoiceField(queryset=Stage.objects.filter(is_active=True), to_field_name="slug", required=False)
    reason = forms.CharField(max_length=2000, required=False)
    back = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, role: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_choices_queryset()
        self.fields["action"].choices = bulk_actions_for(role)
        self.fields["action"].error_messages["invalid_choice"] = "Your role cannot do that to contacts in bulk."
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


class ContactForm(forms.Form):
    """Create or edit a contact in the app; the contact services validate and store it (as the API does)."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email = forms.CharField(max_length=254, error_messages={"required": "An email address is required."})
    phone = forms.CharField(max_length=40, required=False)
    company = forms.CharField(max_length=200, required=False)
    external_id = forms.CharField(
        max_length=100, required=False, label="External id", help_text="The id in your shop or other system."
    )
    owner = forms.ModelChoiceField(queryset=owner_choices_queryset(), required=False, empty_label="Nobody")
    acquisition_channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.DIRECT, label="Came through")
    marketing_consent = forms.BooleanField(required=False, label="Agreed to receive marketing")
    tags = forms.CharField(required=False, max_length=1000, help_text="Separate tags with commas.")
    referral_code = forms.CharField(
        required=False,
        max_length=40,
        label="Referred by (code)",
        help_text="The referral code of the customer who recommended them, if any.",
    )

    def __init__(self, *args, role: str | None = None, creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_choices_queryset()
        if not creating:
            del self.fields["referral_code"]  # a referral links a new contact to its referrer, once
        if role == Role.SALES_REP:
            del self.fields["owner"]  # a rep's new contacts are their own, and a rep does not hand contacts over

    @staticmethod
    def initial_for(contact) -> dict:
        """The form's values for an existing contact."""
        return {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
            "company": contact.company,
            "external_id": contact.external_id or "",
            "owner": contact.owner_id,
            "acquisition_channel": contact.acquisition_channel,
            "marketing_consent": contact.marketing_consent,
            "tags": ", ".join(t.name for t in contact.tags.all()),
        }

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["tags"] = [t.strip() for t in (data.get("tags") or "").split(",") if t.strip()]
        data["external_id"] = data.get("external_id") or None
        if not data.get("referral_code"):
            data.pop("referral_code", None)
        return data


class TouchpointEditForm(QuickTouchpointForm):
    """Correct a touchpoint logged by hand: its kind, channel, time, amount, score and note (the quick form's rules)."""

    occurred_at = forms.DateTimeField(
        label="When",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"required": "Say when it happened.", "invalid": "Give the date and time it happened."},
    )
    field_order = ["kind", "channel", "occurred_at", "amount", "score", "note"]


class TaskForm(forms.Form):
    """A to-do a rep sets themselves about one of their contacts."""

    title = forms.CharField(max_length=200, error_messages={"required": "Say what is to be done."})
    due_on = forms.DateField(
        label="Due", widget=forms.DateInput(attrs={"type": "date"}), error_messages={"invalid": "Pick a date."}
    )
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
