"""Contacts, their tags and every touchpoint (interaction) with them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Now
from django.utils import timezone

from lifecycle_crm.validation import validate_attributes, validate_moment


class Channel(models.TextChoices):
    DIRECT = "direct", "Direct"
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    PAID_SOCIAL = "paid_social", "Paid social"
    DISPLAY = "display", "Display ads"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    AFFILIATE = "affiliate", "Affiliate"
    PARTNER = "partner", "Partner"
    EVENTS = "events", "Events"
    WEB = "web", "Website"
    PHONE = "phone", "Phone"
    IN_PERSON = "in_person", "In person"
    CHAT = "chat", "Chat"
    SMS = "sms", "SMS"
    OTHER = "other", "Other"


class TouchpointKind(models.TextChoices):
    AD_CLICK = "ad_click", "Ad click"
    SITE_VISIT = "site_visit", "Site visit"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    FORM_SUBMIT = "form_submit", "Form submitted"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    WEBINAR = "webinar", "Webinar"
    SOCIAL_SHARE = "social_share", "Social share"
    CHAT = "chat", "Chat"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"
    QUOTE_REQUEST = "quote_request", "Quote request"
    TRIAL_SIGNUP = "trial_signup", "Trial signup"
    CART_ABANDONED = "cart_abandoned", "Cart abandoned"
    PURCHASE = "purchase", "Purchase"
    REFUND = "refund", "Refund"
    SUPPORT_TICKET = "support_ticket", "Support ticket"
    SURVEY_RESPONSE = "survey_response", "Survey response"
    REVIEW = "review", "Review"
    REFERRAL = "referral", "Referral"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    TASK_COMPLETED = "task_completed", "Task completed"
    NOTE = "note", "Note"


# Kinds that carry money, and the kind that carries a survey score.
AMOUNT_KINDS = (TouchpointKind.PURCHASE, TouchpointKind.REFUND)
SCORE_KINDS = (TouchpointKind.SURVEY_RESPONSE,)
SCORE_MIN, SCORE_MAX = 0, 10  # NPS-style 0..10


class TouchpointSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    IMPORT = "import", "Import"
    SYSTEM = "system", "System"


class Tag(models.Model):
    """A free label on contacts (e.g. "vip", "newsletter"); names are unique case-insensitively."""

    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person the business has a relationship with, sitting in exactly one lifecycle stage.

    `stage` and `stage_entered_at` are a cached projection of the latest StageTransition,
    written only by the lifecycle engine and manual-move services in the same transaction
    as the transition row. `stage_source` says whether the current stage was set by the
    rules or by a person, so the rules can respect a manual placement.
    """

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(  # noqa: DJ001 - NULL = not set, ignored by the unique constraint
        max_length=100, null=True, blank=True, help_text="The integrating system's customer id; unique when set."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
        help_text="The sales rep responsible for this contact.",
    )
    acquisition_channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.DIRECT)
    acquisition_campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="acquired_contacts"
    )
    acquired_at = models.DateTimeField(default=timezone.now, validators=[validate_moment])
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    marketing_consent = models.BooleanField(default=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, validators=[validate_attributes], help_text="Custom attributes as a JSON object."
    )
    stage = models.ForeignKey("stages.Stage", on_delete=models.PROTECT, related_name="contacts")
    stage_entered_at = models.DateTimeField()
    stage_source = models.CharField(max_length=16, default="rule")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="contact_email_ci_unique"),
            models.UniqueConstraint(
                fields=["external_id"], condition=Q(external_id__isnull=False), name="contact_external_id_unique"
            ),
            models.CheckConstraint(condition=~Q(email=""), name="contact_email_not_blank"),
        ]
        indexes = [
            # Contact list filtered by stage, newest first; per-stage counts.
            models.Index(fields=["stage", "-id"], name="contact_stage_idx"),
            # Funnel/retention by acquisition channel.
            models.Index(fields=["acquisition_channel", "acquired_at"], name="contact_channel_idx"),
            # Contact list filtered by stage-entered range ("entered at_risk this week").
            models.Index(fields=["stage_entered_at"], name="contact_stage_entered_idx"),
            # Contact list by creation date, and the overview's new-contact and conversion cards
            # (analytics/kpis.py): a created_at range filtered by channel or owner, index-only.
            models.Index(
                fields=["created_at"], include=["acquisition_channel", "owner"], name="contact_created_cover_idx"
            ),
            # Contact list sorted by name: contacts.filters orders by (last_name, id), which this
            # index serves exactly (keyset pages seek it; no sort of a large same-name group).
            models.Index(fields=["last_name", "id"], name="contact_last_name_idx"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


class Touchpoint(models.Model):
    """One interaction with a contact. `(source, external_id)` is unique so retried pushes never duplicate."""

    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        # No plain FK index: with the covering index below, a second index on contact_id
        # alone makes PostgreSQL pick an ordered scan with random heap reads for the
        # per-contact aggregate (PERFORMANCE.md, 34-50 s instead of 4 s at 20M rows).
        db_index=False,
    )
    kind = models.CharField(max_length=20, choices=TouchpointKind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    occurred_at = models.DateTimeField(default=timezone.now, validators=[validate_moment])
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    score = models.SmallIntegerField(null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touchpoints",
        db_index=False,  # served by the partial touchpoint_campaign_idx below (most touchpoints have no campaign)
    )
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # No index: only deleting a user reads this column (to null it), and an index on every
        # touchpoint would cost each ingested row for that rare admin action.
        db_index=False,
    )
    source = models.CharField(max_length=10, choices=TouchpointSource.choices, default=TouchpointSource.MANUAL)
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 - NULL = none given
    note = models.TextField(blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the system stored it (issue 17), beside occurred_at (in the customer's life): a fact received
    # long after it occurred is history, and history never triggers emails, plays or webhooks.
    # db_default so raw inserts (bench, COPY) get it too; Python's default lets tests freeze time.
    received_at = models.DateTimeField(default=timezone.now, db_default=Now())
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="touchpoint_source_external_id_unique",
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=AMOUNT_KINDS) & Q(amount__isnull=False) & Q(amount__gte=0))
                | (~Q(kind__in=AMOUNT_KINDS) & Q(amount__isnull=True)),
                name="touchpoint_amount_only_for_money_kinds",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True)
                | (Q(kind__in=SCORE_KINDS) & Q(score__gte=SCORE_MIN, score__lte=SCORE_MAX)),
                name="touchpoint_score_range",
            ),
        ]
        indexes = [
            # The lifecycle engine's per-contact GROUP BY: index-only and presorted on
            # PostgreSQL thanks to INCLUDE (ignored on SQLite). Also serves a contact's timeline.
            models.Index(
                fields=["contact", "occurred_at"], include=["kind", "amount"], name="touchpoint_contact_time_idx"
            ),
            # Cohort retention and CLV inputs read purchases only.
            models.Index(
                fields=["occurred_at", "contact"],
                include=["amount"],
                condition=Q(kind="purchase"),
                name="touchpoint_purchase_idx",
            ),
            # Channel performance as of a past day subtracts the refunds after it from the metrics
            # (purchases come from touchpoint_purchase_idx); refunds are few, so is this index.
            models.Index(
                fields=["occurred_at", "contact"],
                include=["amount"],
                condition=Q(kind="refund"),
                name="touchpoint_refund_idx",
            ),
            # Money reports grouped per contact: cohort retention (first-purchase month window),
            # churn (purchase days per contact) and channel performance (net revenue per contact).
            # Index-only and presorted by contact; only purchases/refunds (~10%) are indexed, so
            # ingestion of other kinds pays nothing for it.
            models.Index(
                fields=["contact", "occurred_at"],
                include=["kind", "amount"],
                condition=Q(kind__in=["purchase", "refund"]),
                name="touchpoint_money_idx",
            ),
            # Period-bounded reports over all touchpoints (campaign reach, channel mix).
            models.Index(fields=["occurred_at"], name="touchpoint_time_idx"),
            # Campaign performance (reach, attributed revenue, advances after a campaign touch): only
            # attributed touchpoints are indexed, so unattributed ingestion pays nothing for it.
            models.Index(
                fields=["campaign", "occurred_at"],
                include=["contact"],
                condition=Q(campaign__isnull=False),
                name="touchpoint_campaign_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.contact_id} · {self.occurred_at:%Y-%m-%d}"


# --- import jobs and merge log (web) -------------------------------------------------------


class ImportKind(models.TextChoices):
    CONTACTS = "contacts", "Contacts"
    TOUCHPOINTS = "touchpoints", "Touchpoints"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded (waiting for a column mapping)"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One CSV import: the uploaded file, its column mapping and the progress of the background run.

    The file's text is kept in the row (not on local disk) so any worker on any machine can
    run the job; `processed_rows` is advanced after every committed chunk so the progress bar
    reports what is really stored.
    """

    kind = models.CharField(max_length=12, choices=ImportKind.choices)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    file_name = models.CharField(max_length=255)
    content = models.TextField(help_text="The uploaded CSV, decoded as UTF-8.")
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict, help_text="CSV column → field name; unmapped columns are ignored.")
    total_rows = models.IntegerField(default=0)
    processed_rows = models.IntegerField(default=0)
    created_count = models.IntegerField(default=0)
    updated_count = models.IntegerField(default=0)
    unchanged_count = models.IntegerField(default=0, help_text="Rows already stored by an earlier import.")
    rejected_count = models.IntegerField(default=0)
    trigger_plays = models.BooleanField(
        default=False,
        help_text="Let this import's facts trigger plays, emails and webhooks (off: imported history emails nobody).",
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__gte=0) & Q(processed_rows__lte=models.F("total_rows")),
                name="import_progress_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import {self.file_name} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRejection(models.Model):
    """A CSV row an import did not store, with the reason; nothing of that row was written."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.IntegerField(help_text="Line number in the file (the header is line 1).")
    reason = models.TextField()
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["job_id", "row_number"]
        indexes = [
            # The results page lists a job's rejected rows in file order.
            models.Index(fields=["job", "row_number"], name="import_rejection_job_idx"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


class ContactMerge(models.Model):
    """The log of a merge: which contact was folded into which survivor, by whom, and what moved.

    `merged_snapshot` keeps every profile field of the removed contact, so nothing of it is
    lost even where the survivor's value won.
    """

    survivor = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="merges")
    survivor_email = models.EmailField(max_length=254)
    merged_contact_id = models.BigIntegerField()
    merged_email = models.EmailField(max_length=254)
    merged_snapshot = models.JSONField(default=dict)
    moved = models.JSONField(default=dict, help_text="Counts of the rows moved to the survivor, by kind.")
    # The removed contact's own stage history (issue 17): the survivor's history is rebuilt as one
    # chain, so the other's moves are kept here rather than interleaved into it.
    merged_history = models.JSONField(default=list, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_email} → {self.survivor_email}"


class TouchpointChangeAction(models.TextChoices):
    EDIT = "edit", "Edited"
    DELETE = "delete", "Deleted"
    RESTORE = "restore", "Restored"


class TouchpointChange(models.Model):
    """The audit trail of touchpoints corrected or deleted by hand: who, when, the row before and after.

    Why: a deleted touchpoint leaves no row behind, and an edited one changes history that stages,
    metrics and reports were computed from; this entry keeps what it was, and `before` of a deletion
    is what an undo puts back within the undo window.
    """

    touchpoint_id = models.BigIntegerField(help_text="The touchpoint's id (the row may be gone).")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="touchpoint_changes")
    action = models.CharField(max_length=10, choices=TouchpointChangeAction.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["edit", "delete", "restore"]), name="touchpoint_change_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(undone_at__isnull=True) | Q(undone_at__gte=models.F("changed_at")),
                name="touchpoint_change_undone_after_change",
            ),
        ]
        indexes = [
            # The contact page's "recent corrections" and the undo lookup of one contact.
            models.Index(fields=["contact", "-changed_at"], name="touchpoint_change_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} touchpoint {self.touchpoint_id}"


class AliasKind(models.TextChoices):
    EMAIL = "email", "Email"
    EXTERNAL_ID = "external_id", "External id"


class ContactAlias(models.Model):
    """Another email or external id that names a contact: the removed contact's keys after a merge.

    Lookups by email or external id (API filters, upserts, bulk touchpoints, imports) fall back
    to the aliases, so an integration that still names the merged-away record reaches the
    survivor instead of a 400 (issue 17). Emails are stored lower-cased; a value names one
    contact at most.
    """

    # The FK's index serves a contact's aliases (its page, a later merge re-pointing them).
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="aliases")
    kind = models.CharField(max_length=12, choices=AliasKind.choices)
    value = models.CharField(max_length=254)
    merge = models.ForeignKey(ContactMerge, null=True, blank=True, on_delete=models.SET_NULL, related_name="aliases")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["contact_id", "kind", "value"]
        constraints = [
            # One owner per alias; also the index of every alias look-up (kind, value).
            models.UniqueConstraint(fields=["kind", "value"], name="contact_alias_unique"),
            models.CheckConstraint(condition=~Q(value=""), name="contact_alias_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} → {self.contact_id}"


class ConsentAction(models.TextChoices):
    GRANTED = "granted", "Consent given"
    WITHDRAWN = "withdrawn", "Consent withdrawn"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    ERASED = "erased", "Personal data erased"


class ConsentEvent(models.Model):
    """One change of a contact's marketing consent, appended and never edited (issue 17: a consent ledger).

    Who changed it (a user or an API key, with the name kept as it was), from where (`source`:
    form, api, import, admin, email link…), when, the text the person was shown, the IP of a
    form, and the reason. Erasing a contact's personal data appends an `erased` event: the
    ledger is the proof of what the business was allowed to do and when.
    """

    # No plain FK index: consent_event_contact_idx starts with contact_id.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events", db_index=False)
    action = models.CharField(max_length=12, choices=ConsentAction.choices)
    granted = models.BooleanField(help_text="Marketing consent after this event.")
    source = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    text_shown = models.TextField(blank=True, help_text="The consent text the person saw, if any.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=160, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["contact_id", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(source=""), name="consent_event_has_source"),
            models.CheckConstraint(
                condition=~Q(action="granted") | Q(granted=True), name="consent_event_granted_grants"
            ),
        ]
        indexes = [
            # A contact's ledger in order (API, contact page).
            models.Index(fields=["contact", "created_at"], name="consent_event_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.action} via {self.source} @ {self.created_at:%Y-%m-%d}"
