"""Lifecycle stages, the rules that place contacts in them, and the history of every move."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from stages.rules import validate_conditions


class StageCategory(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    EXIT = "exit", "Exit"


class Stage(models.Model):
    """One lifecycle stage. Rows are configurable; the default path is seeded by migration.

    `position` orders the path: rules move contacts forward (to a higher position) only,
    while exit stages (at_risk, churned) sit beside the path and are entered by their rules.
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(unique=True)
    category = models.CharField(max_length=16, choices=StageCategory.choices)
    colour = models.CharField(max_length=7, default="#64748b", help_text="Hex colour used in charts, e.g. #2563eb.")
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(colour__regex=r"^#[0-9a-fA-F]{6}$"), name="stage_colour_hex"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleMatch(models.TextChoices):
    ALL = "all", "All conditions"
    ANY = "any", "Any condition"


class StageRule(models.Model):
    """A declarative condition set that places a contact in `stage`.

    `conditions` is a list of `{"metric": <registry name>, "op": <operator>, "value": …,
    "params": {…}}` validated against the fixed metric registry in `stages.rules`; user
    text is never evaluated. `from_stages` limits the rule to contacts currently in those
    stages (empty means any stage). Higher `priority` wins when two rules target stages of
    the same position.
    """

    name = models.CharField(max_length=120)
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="rules")
    match = models.CharField(max_length=3, choices=RuleMatch.choices, default=RuleMatch.ALL)
    conditions = models.JSONField(default=list)
    from_stages = models.ManyToManyField(Stage, blank=True, related_name="+")
    priority = models.SmallIntegerField(default=0)
    is_win_back = models.BooleanField(
        default=False, help_text="Moves contacts back out of an exit stage; the transition is marked as a win-back."
    )
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stage__position", "-priority", "id"]

    def __str__(self) -> str:
        return f"{self.name} → {self.stage}"

    def clean(self) -> None:
        """Validate the conditions against the metric registry (stages.rules) and the win-back flag."""

        errors: dict[str, list[str]] = {}
        try:
            self.conditions = validate_conditions(self.conditions)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        stage = Stage.objects.filter(pk=self.stage_id).first() if self.stage_id else None
        if stage is not None and self.is_win_back and stage.category == StageCategory.EXIT:
            errors.setdefault("stage", []).append(
                "A win-back rule moves contacts out of exit stages: pick a customer or prospect stage."
            )
        if errors:
            raise ValidationError(errors)


class TransitionSource(models.TextChoices):
    RULE = "rule", "Rule"
    MANUAL = "manual", "Manual"
    API = "api", "API"
    IMPORT = "import", "Import"
    MERGE = "merge", "Merge"
    PLAY = "play", "Play"
    SYSTEM = "system", "System"


class StageTransition(models.Model):
    """Append-only history of stage moves; entered/exited times and time-in-stage derive from it.

    `effective_at` is when the triggering event happened (not when the engine ran);
    `recorded_at` is when the row was written. `from_stage` is null for a contact's first
    placement.
    """

    # No plain index on contact_id: `transition_contact_cover_idx` starts with it and serves every
    # lookup by contact (the contact's history, the cascade on delete); a second one only slows writes and
    # tempts the planner into ordered scans with random heap reads (PERFORMANCE.md).
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="transitions", db_index=False
    )
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="transitions_in")
    effective_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, choices=TransitionSource.choices)
    rule = models.ForeignKey(StageRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="transitions")
    touchpoint = models.ForeignKey(
        "contacts.Touchpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    is_win_back = models.BooleanField(default=False)
    # Provenance (issue 17): the API key that caused the move (directly, or through the touchpoint it
    # pushed), and the name of the user or key at that moment, kept when either is later deleted.
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor_name = models.CharField(max_length=160, blank=True, default="", db_default="")

    class Meta:
        ordering = ["contact_id", "effective_at", "id"]
        indexes = [
            # A contact's history in order (contact page, time-in-stage) and the funnel report
            # (analytics/reports/funnel.py): its one group per contact streams from an index-only scan
            # in this order, which the INCLUDEd to_stage_id makes possible (no 1M-group hash spill).
            models.Index(fields=["contact", "effective_at"], include=["to_stage"], name="transition_contact_cover_idx"),
            # Stage flow and funnel over a period: transitions into a stage by time.
            models.Index(fields=["to_stage", "effective_at"], name="transition_to_time_idx"),
            # Period scans over all transitions (flow matrix, campaign attribution windows).
            models.Index(fields=["effective_at"], name="transition_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_stage__isnull=True) | ~Q(from_stage=models.F("to_stage")),
                name="transition_changes_stage",
            ),
            models.CheckConstraint(
                condition=~Q(source="manual") | ~Q(note=""),
                name="transition_manual_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.from_stage_id} → {self.to_stage_id} @ {self.effective_at:%Y-%m-%d}"


class StageSnapshot(models.Model):
    """Contacts per stage at the end of a day, written by the nightly run; feeds stage-over-time charts."""

    date = models.DateField()
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="snapshots")
    contacts = models.IntegerField()
    # Set when history before this day changed after the row was written (a late fact, a merge):
    # the count was rewritten from the history and the chart says so (issue 17).
    restated_at = models.DateTimeField(null=True, blank=True)
    previous_contacts = models.IntegerField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had in analytics: raw SQL and data stay valid.
        db_table = "analytics_stagesnapshot"
        ordering = ["date", "stage__position"]
        constraints = [models.UniqueConstraint(fields=["date", "stage"], name="snapshot_date_stage_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.stage_id}: {self.contacts}"


class ApplicationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RuleApplication(models.Model):
    """A saved rule change applied to every contact in the background, with progress and who moved (issue 17).

    A rule saved in admin or the API used to wait silently for the nightly run; now the save
    queues one of these, a worker re-evaluates the contacts chunk by chunk (advancing
    `processed` after each committed chunk) and records the moves it made.
    """

    rule = models.ForeignKey(StageRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="applications")
    rule_name = models.CharField(max_length=120)
    status = models.CharField(max_length=8, choices=ApplicationStatus.choices, default=ApplicationStatus.QUEUED)
    total = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    moved = models.IntegerField(default=0)
    # [{"contact_id", "from", "to", "transition_id"}] of the moves made, at most MOVERS_KEPT (moved counts all).
    movers = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    MOVERS_KEPT = 5000

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__gte=0) & Q(moved__gte=0), name="rule_application_counts_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Apply {self.rule_name} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ApplicationStatus.DONE:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0
