"""Forms of the play editor: the play (trigger, conditions, delay, goal) and its ordered actions."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError

from contacts.models import TouchpointKind
from plays.models import Play, PlayAction
from plays.services import play_validate


class PlayForm(forms.ModelForm):
    """A play's trigger, conditions, delay and goal; delays and windows are typed in hours and days."""

    trigger_kind = forms.ChoiceField(
        choices=[("", "—"), *TouchpointKind.choices], required=False, label="Touchpoint kind"
    )
    quiet_kinds = forms.MultipleChoiceField(
        choices=TouchpointKind.choices,
        required=False,
        label="Kinds that break the silence",
        help_text="None ticked: any touch breaks it.",
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    delay_hours = forms.IntegerField(min_value=0, max_value=24 * 365, initial=0, label="Wait (hours)")
    goal_window_days = forms.IntegerField(min_value=1, max_value=3650, initial=30, label="Goal window (days)")

    class Meta:
        model = Play
        fields = [
            "name",
            "description",
            "trigger_type",
            "trigger_stage",
            "trigger_kind",
            "score_min",
            "score_max",
            "silence_days",
            "quiet_kinds",
            "p_alive_threshold",
            "anniversary_years",
            "condition_stage",
            "condition_segment",
            "condition_consent",
            "goal_stage",
        ]
        labels = {
            "trigger_type": "When",
            "trigger_stage": "Stage entered",
            "condition_stage": "Only if in stage",
            "condition_segment": "Only if in segment",
            "condition_consent": "Only contacts who agreed to marketing",
            "goal_stage": "Goal: reaches stage",
            "p_alive_threshold": "Probability alive below",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["delay_hours"] = int(self.instance.delay.total_seconds() // 3600)
            self.initial["goal_window_days"] = self.instance.goal_window.days

    def clean(self):
        """The service's trigger checks as field errors (before the database constraints would fire)."""
        data = super().clean()
        candidate = Play(
            **{k: v for k, v in data.items() if k in {f.name for f in Play._meta.fields} and k not in ("quiet_kinds",)},
            quiet_kinds=list(data.get("quiet_kinds") or []),
        )
        try:
            play_validate(play=candidate)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data

    def save(self, commit: bool = True) -> Play:
        play = super().save(commit=False)
        play.delay = dt.timedelta(hours=self.cleaned_data["delay_hours"])
        play.goal_window = dt.timedelta(days=self.cleaned_data["goal_window_days"])
        play.quiet_kinds = list(self.cleaned_data.get("quiet_kinds") or [])
        return play


class PlayActionForm(forms.ModelForm):
    """One step of the play; only the fields its type uses are read."""

    class Meta:
        model = PlayAction
        fields = [
            "action_type",
            "subject",
            "body_text",
            "body_html",
            "task_title",
            "task_due_days",
            "tag",
            "campaign",
            "webhook_event",
            "stage",
            "reason",
        ]
        labels = {"body_text": "Email text", "body_html": "Email HTML (optional)", "task_due_days": "Due in (days)"}
        widgets = {
            "body_text": forms.Textarea(attrs={"rows": 6, "data-preview-source": "text"}),
            "body_html": forms.Textarea(attrs={"rows": 4}),
            "subject": forms.TextInput(attrs={"data-preview-source": "subject"}),
        }


PlayActionFormSet = forms.inlineformset_factory(
    Play, PlayAction, form=PlayActionForm, extra=1, can_delete=True, max_num=10, validate_max=True
)


class TemplatePreviewForm(forms.Form):
    """An email template and the contact to render it on."""

    subject = forms.CharField(required=False, max_length=200)
    body_text = forms.CharField(required=False, max_length=20000)
    body_html = forms.CharField(required=False, max_length=50000)
    contact = forms.IntegerField(required=False, min_value=1)
