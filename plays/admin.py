"""Admin for plays: plays with their ordered actions inline, runs with action logs, and tasks."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from contacts.models import TouchpointKind
from plays import services
from plays.models import ActionLog, Play, PlayAction, PlayRun, Task


class PlayActionForm(forms.ModelForm):
    class Meta:
        model = PlayAction
        fields = [
            "position",
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

    def clean(self):
        cleaned = super().clean()
        candidate = PlayAction(**{k: v for k, v in cleaned.items() if k in {f.name for f in PlayAction._meta.fields}})
        try:
            services.play_action_validate(action=candidate)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        return cleaned


class PlayActionInline(admin.StackedInline):
    model = PlayAction
    form = PlayActionForm
    extra = 0
    autocomplete_fields = ["tag", "campaign"]


class PlayForm(forms.ModelForm):
    trigger_kind = forms.ChoiceField(
        choices=[("", "—"), *TouchpointKind.choices],
        required=False,
        help_text=Play._meta.get_field("trigger_kind").help_text,
    )

    class Meta:
        model = Play
        fields = [
            "name",
            "description",
            "status",
            "trigger_type",
            "trigger_stage",
            "trigger_tier",
            "trigger_kind",
            "score_min",
            "score_max",
            "silence_days",
            "quiet_kinds",
            "p_alive_threshold",
            "anniversary_years",
            "condition_segment",
            "condition_stage",
            "condition_consent",
            "delay",
            "goal_stage",
            "goal_window",
        ]

    def clean(self):
        cleaned = super().clean()
        candidate = Play(**{k: v for k, v in cleaned.items() if k in {f.name for f in Play._meta.fields}})
        try:
            services.play_validate(play=candidate)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        return cleaned


@admin.register(Play)
class PlayAdmin(admin.ModelAdmin):
    form = PlayForm
    list_display = ["name", "status", "trigger_type", "trigger_stage", "trigger_kind", "delay", "goal_stage"]
    list_filter = ["status", "trigger_type"]
    search_fields = ["name", "description"]
    inlines = [PlayActionInline]
    readonly_fields = ["scanned_until"]
    actions = ["activate", "pause"]

    def save_model(self, request, obj, form, change):
        # Status goes through the service so a play turned on starts a fresh scan watermark.
        status = obj.status
        if change and "status" in form.changed_data:
            obj.status = Play.objects.get(pk=obj.pk).status
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            services.play_set_status(play=obj, status=status)

    @admin.action(description="Activate selected plays")
    def activate(self, request, queryset):
        for play in queryset:
            services.play_set_status(play=play, status="active")

    @admin.action(description="Pause selected plays")
    def pause(self, request, queryset):
        for play in queryset:
            services.play_set_status(play=play, status="paused")


class ActionLogInline(admin.TabularInline):
    model = ActionLog
    extra = 0
    can_delete = False
    fields = ["action_type", "status", "detail", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PlayRun)
class PlayRunAdmin(admin.ModelAdmin):
    list_display = ["play", "contact", "occurrence_key", "status", "acted", "due_at", "finished_at"]
    list_filter = ["status", "acted", "play"]
    search_fields = ["contact__email", "occurrence_key", "play__name"]
    raw_id_fields = ["contact"]
    readonly_fields = [f.name for f in PlayRun._meta.fields]
    inlines = [ActionLogInline]

    def has_add_permission(self, request):
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "contact", "due_on", "status", "completed_at"]
    list_filter = ["status", "due_on"]
    search_fields = ["title", "contact__email", "owner__username", "outcome"]
    raw_id_fields = ["contact", "run"]
