"""Lifecycle plays: automation that acts when a contact changes stage, logs a touchpoint, or goes quiet.

A Play names a trigger, an optional condition, a delay and ordered actions. Every time a
trigger fires for a contact a PlayRun is written, unique per (play, contact, occurrence),
so a retried task or two racing workers never act twice on the same occurrence. Each
action's outcome is an ActionLog row (sent / skipped and why / failed and why).
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import TouchpointKind


class PlayStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class TriggerType(models.TextChoices):
    STAGE_ENTERED = "stage_entered", "Contact enters a stage"
    TOUCHPOINT_LOGGED = "touchpoint_logged", "A touchpoint is logged"
    SILENCE = "silence", "N days after an event with nothing else happening"
    P_ALIVE_BELOW = "p_alive_below", "Probability alive falls below a threshold"
    ANNIVERSARY = "anniversary", "Anniversary of the first purchase"
    TIER_ENTERED = "tier_entered", "Contact enters a loyalty tier"
    REWARD_REDEEMED = "reward_redeemed", "Contact redeems a loyalty reward"
    REFERRAL_CONVERTED = "referral_converted", "A friend the contact referred makes a first purchase"


# Triggers found by the periodic scan rather than by an event.
SCANNED_TRIGGERS = (TriggerType.SILENCE, TriggerType.P_ALIVE_BELOW, TriggerType.ANNIVERSARY)


class Play(models.Model):
    """One automation: a trigger, an optional condition, a delay, ordered actions and a goal.

    Trigger parameters are typed columns (not free JSON) so the database can check that
    each trigger type has what it needs. `scanned_until` is the watermark of the periodic
    scan: the next scan only looks at what could have become due after it.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=PlayStatus.choices, default=PlayStatus.PAUSED)
    trigger_type = models.CharField(max_length=20, choices=TriggerType.choices)
    # stage_entered
    trigger_stage = models.ForeignKey(
        "stages.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Stage entered (stage-entry trigger).",
    )
    # touchpoint_logged / silence: the touchpoint kind that fires (or starts the silence)
    # No `choices=` here on purpose: the kinds belong to contacts.TouchpointKind, and choices in this
    # migration state would make every new kind there a migration here. Forms and services validate it.
    trigger_kind = models.CharField(
        max_length=20,
        blank=True,
        help_text="Touchpoint kind logged (touchpoint trigger) or the event the silence follows (silence trigger).",
    )
    # tier_entered
    trigger_tier = models.ForeignKey(
        "loyalty.Tier",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Loyalty tier entered (tier trigger).",
    )
    score_min = models.SmallIntegerField(null=True, blank=True, help_text="Touchpoint trigger: score at least.")
    score_max = models.SmallIntegerField(null=True, blank=True, help_text="Touchpoint trigger: score at most.")
    silence_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Silence trigger: days after the event with nothing else happening."
    )
    quiet_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text="Silence trigger: touchpoint kinds that break the silence (empty = any touch that is not "
        "system-generated). A later event of the same kind always does.",
    )
    p_alive_threshold = models.FloatField(null=True, blank=True, help_text="Probability-alive trigger: below this.")
    anniversary_years = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Anniversary trigger: years after the first purchase."
    )
    # Condition, checked when the run executes (after the delay).
    condition_segment = models.ForeignKey(
        "campaigns.Segment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    condition_stage = models.ForeignKey(
        "stages.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only contacts currently in this stage when the run executes.",
    )
    condition_consent = models.BooleanField(
        default=False, help_text="Only contacts with marketing consent (emails always require it)."
    )
    delay = models.DurationField(default=dt.timedelta(0), help_text="Wait this long after the trigger.")
    goal_stage = models.ForeignKey(
        "stages.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Reporting: a run converts when its contact reaches this stage within the window.",
    )
    goal_window = models.DurationField(default=dt.timedelta(days=30))
    scanned_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.STAGE_ENTERED) | Q(trigger_stage__isnull=False),
                name="play_stage_trigger_has_stage",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type__in=[TriggerType.TOUCHPOINT_LOGGED, TriggerType.SILENCE])
                | ~Q(trigger_kind=""),
                name="play_touchpoint_trigger_has_kind",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.SILENCE) | Q(silence_days__gte=1),
                name="play_silence_has_days",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.P_ALIVE_BELOW)
                | Q(p_alive_threshold__gt=0, p_alive_threshold__lte=1),
                name="play_p_alive_threshold_range",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.ANNIVERSARY) | Q(anniversary_years__gte=1),
                name="play_anniversary_has_years",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.TIER_ENTERED) | Q(trigger_tier__isnull=False),
                name="play_tier_trigger_has_tier",
            ),
            models.CheckConstraint(condition=Q(delay__gte=dt.timedelta(0)), name="play_delay_non_negative"),
            models.CheckConstraint(condition=Q(goal_window__gt=dt.timedelta(0)), name="play_goal_window_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == PlayStatus.ACTIVE

    @property
    def trigger_kind_label(self) -> str:
        return dict(TouchpointKind.choices).get(self.trigger_kind, self.trigger_kind)

    @property
    def quiet_kind_labels(self) -> list[str]:
        """The kinds that break a silence, in words ("email open", not "email_open")."""
        labels = dict(TouchpointKind.choices)
        return [str(labels.get(kind, kind)).lower() for kind in self.quiet_kinds or []]

    @property
    def delay_label(self) -> str:
        """The delay in words ("3 days", "2 hours 30 minutes"), for pages."""
        seconds = int(self.delay.total_seconds()) if self.delay else 0
        parts = []
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            count, seconds = divmod(seconds, size)
            if count:
                parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
        return " ".join(parts) or "no delay"


class ActionType(models.TextChoices):
    SEND_EMAIL = "send_email", "Send email"
    CREATE_TASK = "create_task", "Create task for the owner"
    ADD_TAG = "add_tag", "Add tag"
    REMOVE_TAG = "remove_tag", "Remove tag"
    ENROL_CAMPAIGN = "enrol_campaign", "Enrol in campaign"
    FIRE_WEBHOOK = "fire_webhook", "Fire webhook event"
    MOVE_STAGE = "move_stage", "Move to stage"


class PlayAction(models.Model):
    """One step of a play, run in `position` order; its typed columns are checked per action type.

    Email subject and bodies are Django templates rendered with `contact`, `stage`,
    `metrics`, `play` and `unsubscribe_url`.
    """

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField(default=0)
    action_type = models.CharField(max_length=16, choices=ActionType.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="Email: subject template.")
    body_text = models.TextField(blank=True, help_text="Email: plain-text body template.")
    body_html = models.TextField(blank=True, help_text="Email: HTML body template (optional).")
    task_title = models.CharField(max_length=200, blank=True, help_text="Task: title template.")
    task_due_days = models.PositiveSmallIntegerField(default=1, help_text="Task: due this many days after the run.")
    tag = models.ForeignKey("contacts.Tag", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    webhook_event = models.CharField(max_length=64, blank=True, help_text="Webhook: event name, e.g. play.win_back.")
    stage = models.ForeignKey(
        "stages.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Move: target stage.",
    )
    reason = models.CharField(max_length=200, blank=True, help_text="Move: reason recorded on the transition.")

    class Meta:
        ordering = ["play", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action_type=ActionType.SEND_EMAIL) | (~Q(subject="") & ~Q(body_text="")),
                name="playaction_email_has_subject_and_text",
            ),
            models.CheckConstraint(
                condition=~Q(action_type=ActionType.CREATE_TASK) | ~Q(task_title=""),
                name="playaction_task_has_title",
            ),
            models.CheckConstraint(
                condition=~Q(action_type__in=[ActionType.ADD_TAG, ActionType.REMOVE_TAG]) | Q(tag__isnull=False),
                name="playaction_tag_action_has_tag",
            ),
            models.CheckConstraint(
                condition=~Q(action_type=ActionType.ENROL_CAMPAIGN) | Q(campaign__isnull=False),
                name="playaction_enrol_has_campaign",
            ),
            models.CheckConstraint(
                condition=~Q(action_type=ActionType.FIRE_WEBHOOK) | ~Q(webhook_event=""),
                name="playaction_webhook_has_event",
            ),
            models.CheckConstraint(
                condition=~Q(action_type=ActionType.MOVE_STAGE) | (Q(stage__isnull=False) & ~Q(reason="")),
                name="playaction_move_has_stage_and_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_action_type_display()}"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class PlayRun(models.Model):
    """One firing of a play for one contact and one trigger occurrence.

    `occurrence_key` names the occurrence (the transition, the touchpoint, the silent
    event, the anniversary…); the unique constraint makes run creation idempotent under
    retries and racing workers. A worker claims a run with a conditional UPDATE
    (pending → running) so only one executes it.
    """

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="runs")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="play_runs")
    occurrence_key = models.CharField(max_length=80)
    triggered_at = models.DateTimeField(help_text="When the triggering event happened or became due.")
    due_at = models.DateTimeField(help_text="When the actions may run (trigger + delay).")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.PENDING)
    acted = models.BooleanField(default=False, help_text="At least one action was carried out.")
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["play", "contact", "occurrence_key"], name="playrun_once_per_occurrence"),
        ]
        indexes = [
            # The scan's dispatch of runs that became due (delays) or were orphaned by a lost task.
            models.Index(
                fields=["due_at"], condition=Q(status__in=["pending", "running"]), name="playrun_open_due_idx"
            ),
            # A contact's play log on the timeline.
            models.Index(fields=["contact", "created_at"], name="playrun_contact_idx"),
            # Per-play reporting and the play page's recent runs.
            models.Index(fields=["play", "created_at"], name="playrun_play_idx"),
        ]

    def __str__(self) -> str:
        return f"play {self.play_id} for {self.contact_id} ({self.occurrence_key})"


class ActionStatus(models.TextChoices):
    SENT = "sent", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class ActionLog(models.Model):
    """The outcome of one action of one run; unique per (run, action) so a retry never repeats an action."""

    run = models.ForeignKey(PlayRun, on_delete=models.CASCADE, related_name="action_logs")
    action = models.ForeignKey(PlayAction, null=True, on_delete=models.SET_NULL, related_name="logs")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="play_action_logs")
    action_type = models.CharField(max_length=16, choices=ActionType.choices)
    status = models.CharField(max_length=8, choices=ActionStatus.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "action"], name="actionlog_once_per_run_action")]
        indexes = [
            # The per-contact email frequency cap: emails sent to a contact in the last week.
            models.Index(
                fields=["contact", "created_at"],
                condition=Q(action_type="send_email", status="sent"),
                name="actionlog_email_cap_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_type} {self.status} for {self.contact_id}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class Task(models.Model):
    """A to-do for a sales rep about one contact; completing it logs a `task_completed` touchpoint."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crm_tasks")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="tasks")
    run = models.ForeignKey(PlayRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    due_on = models.DateField()
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    outcome = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE) | (Q(completed_at__isnull=False) & ~Q(outcome="")),
                name="task_done_has_outcome",
            ),
        ]
        indexes = [
            # "My tasks": a rep's open tasks by due date.
            models.Index(fields=["owner", "status", "due_on"], name="task_owner_open_idx"),
            # A contact's tasks on the contact page.
            models.Index(fields=["contact"], name="task_contact_idx"),
        ]

    def __str__(self) -> str:
        return self.title
