"""Loyalty programmes: earning rules, an append-only points ledger, tiers, rewards and referrals.

Points are data: every movement is a `PointsEntry` row and a balance is the sum of a member's
rows (an index-only SUM over `points_entry_member_idx`). Idempotency lives in unique
constraints: a touchpoint earns once per rule, a stage entry once per rule, a referral once per
side, a redemption once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TierBasis(models.TextChoices):
    POINTS = "points", "Points earned in the window"
    SPEND = "spend", "Net spend in the window"


class Programme(models.Model):
    """A loyalty programme. One is the default (the one new earning and referrals use); several may run.

    `points_per_unit` converts money spent into points for spend rules; `point_value` is what
    one point is worth in money, for the outstanding liability.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    points_per_unit = models.DecimalField(
        max_digits=8, decimal_places=3, default=1, help_text="Points per currency unit spent (spend rules)."
    )
    point_value = models.DecimalField(
        max_digits=8, decimal_places=4, default="0.01", help_text="Money one point is worth (liability)."
    )
    expiry_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Points expire this many months after they were earned (FIFO); empty: never."
    )
    tier_basis = models.CharField(max_length=8, choices=TierBasis.choices, default=TierBasis.POINTS)
    tier_window_days = models.PositiveSmallIntegerField(default=365)
    referrer_points = models.PositiveIntegerField(default=500, help_text="Points for the referrer on conversion.")
    friend_points = models.PositiveIntegerField(default=250, help_text="Points for the referred friend.")
    # Nightly catch-up watermarks (the real-time path does the work; the night catches what it missed).
    touchpoints_through = models.BigIntegerField(default=0)
    transitions_through = models.BigIntegerField(default=0)
    # Steady nights look only at members whose standing can have changed since the last night:
    # ledger rows written after `entries_through`, lots expiring or leaving the tier window since
    # `nightly_at`. `tiers_signature` notices a change of the tiers or the window (then: everyone).
    entries_through = models.BigIntegerField(default=0)
    nightly_at = models.DateTimeField(null=True, blank=True)
    tiers_signature = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="programme_one_default"),
            models.CheckConstraint(condition=Q(points_per_unit__gte=0), name="programme_rate_not_negative"),
            models.CheckConstraint(condition=Q(point_value__gte=0), name="programme_value_not_negative"),
            models.CheckConstraint(condition=Q(tier_window_days__gte=1), name="programme_window_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleKind(models.TextChoices):
    SPEND = "spend", "Per currency unit spent"
    TOUCHPOINT = "touchpoint", "Per touchpoint of a kind"
    STAGE_ENTRY = "stage_entry", "Bonus on entering a stage"
    MULTIPLIER = "multiplier", "Spend multiplier (tier or campaign)"


class EarningRule(models.Model):
    """How points are earned. Each active rule is one INSERT … SELECT over new facts (services.earning).

    spend: amount x programme rate x the best matching multiplier; touchpoint: `points` per
    touchpoint of `touchpoint_kind`; stage_entry: `points` when a contact enters `stage`;
    multiplier: `multiplier` applied to spend earning for touchpoints of `campaign` or members in `tier`.
    """

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=RuleKind.choices)
    points = models.PositiveIntegerField(default=0)
    touchpoint_kind = models.CharField(max_length=20, blank=True)
    stage = models.ForeignKey("stages.Stage", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey("loyalty.Tier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    multiplier = models.DecimalField(max_digits=5, decimal_places=2, default=1)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["programme_id", "kind", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="touchpoint") | ~Q(touchpoint_kind=""), name="earning_rule_touchpoint_kind"
            ),
            models.CheckConstraint(
                condition=~Q(kind="stage_entry") | Q(stage__isnull=False), name="earning_rule_stage_entry_stage"
            ),
            models.CheckConstraint(
                condition=~Q(kind="multiplier")
                | (Q(multiplier__gt=0) & (Q(tier__isnull=False) | Q(campaign__isnull=False))),
                name="earning_rule_multiplier_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Tier(models.Model):
    """A member tier (Member, Silver, Gold…): reached with `threshold` points or spend in the programme's window."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="tiers")
    slug = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    rank = models.PositiveSmallIntegerField(help_text="0 is the entry tier; higher is better.")
    threshold = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["programme_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "rank"], name="tier_rank_unique"),
            models.UniqueConstraint(fields=["programme", "slug"], name="tier_slug_unique"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A contact's account in a programme: its current tier. The row redemptions lock.

    Created set-based on first earning (or on first redemption/adjustment).
    """

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="memberships")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    tier_since = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "programme"], name="membership_unique")]
        indexes = [
            # Members by tier on the programme page.
            models.Index(fields=["programme", "tier"], name="membership_tier_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.programme_id}"


class EntryKind(models.TextChoices):
    EARN = "earn", "Earned"
    REDEEM = "redeem", "Redeemed"
    EXPIRE = "expire", "Expired"
    ADJUST = "adjust", "Adjusted"
    REVERSE = "reverse", "Reversed (refund)"


class PointsEntry(models.Model):
    """One movement of points; append-only (a database trigger refuses UPDATE). Balance = SUM(points).

    `occurred_at` is when the fact happened in the customer's life (the purchase, the
    redemption), `recorded_at` when we stored it; expiry uses `expires_at` of earned rows.
    """

    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="entries", db_index=False)
    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    points = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    touchpoint = models.ForeignKey(
        "contacts.Touchpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rule = models.ForeignKey(EarningRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    transition = models.ForeignKey(
        "stages.StageTransition", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    referral = models.ForeignKey(
        "loyalty.Referral", null=True, blank=True, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # Idempotent earning: re-evaluating, replaying or re-importing a touchpoint earns nothing more.
            models.UniqueConstraint(
                fields=["touchpoint", "rule"], condition=Q(touchpoint__isnull=False), name="points_touchpoint_rule_once"
            ),
            models.UniqueConstraint(
                fields=["transition", "rule"], condition=Q(transition__isnull=False), name="points_transition_rule_once"
            ),
            models.UniqueConstraint(
                fields=["referral", "member"], condition=Q(referral__isnull=False), name="points_referral_side_once"
            ),
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
            models.CheckConstraint(
                condition=(Q(kind="earn") & Q(points__gt=0))
                | (Q(kind__in=["redeem", "expire", "reverse"]) & Q(points__lt=0))
                | Q(kind="adjust"),
                name="points_entry_sign_by_kind",
            ),
        ]
        indexes = [
            # A balance (index-only SUM), the ledger on the contact page, tier windows and FIFO expiry.
            models.Index(
                fields=["member", "occurred_at"],
                include=["kind", "points", "expires_at"],
                name="points_entry_member_idx",
            ),
            # Points issued / redeemed / expired per month on the programme page; the night's tier
            # candidates (rows leaving the rolling window).
            models.Index(fields=["occurred_at"], include=["kind", "points", "member"], name="points_entry_time_idx"),
            # The night's expiry candidates: lots whose expiry time passed since the last night.
            models.Index(
                fields=["expires_at"],
                include=["member"],
                condition=Q(expires_at__isnull=False),
                name="points_entry_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} · member {self.member_id}"


class Reward(models.Model):
    """Something members redeem points for. `stock` NULL is unlimited; never negative (database check)."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    points_price = models.PositiveIntegerField()
    stock = models.IntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["programme_id", "points_price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"),
            models.CheckConstraint(condition=Q(points_price__gt=0), name="reward_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_price} pts)"


class RedemptionChannel(models.TextChoices):
    REP = "rep", "By a rep"
    LINK = "link", "Customer's own link"
    API = "api", "API"


class Redemption(models.Model):
    """A reward redeemed by a member; its ledger row is `entry` (one each)."""

    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField()
    channel = models.CharField(max_length=8, choices=RedemptionChannel.choices)
    # CASCADE: ledger rows go only with their member (a contact's erasure), and the redemption with them.
    entry = models.OneToOneField(PointsEntry, on_delete=models.CASCADE, related_name="redemption")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reward} for member {self.member_id}"


class ReferralStatus(models.TextChoices):
    INVITED = "invited", "Invited"
    SIGNED_UP = "signed_up", "Signed up"
    PURCHASED = "purchased", "Purchased"


class Referral(models.Model):
    """A referrer's invitation of a friend: Invited → Signed up (contact linked) → Purchased (both rewarded once)."""

    referrer = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="referrals_made")
    referred = models.OneToOneField(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="referred_by"
    )
    invited_email = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.INVITED)
    created_at = models.DateTimeField(default=timezone.now)
    signed_up_at = models.DateTimeField(null=True, blank=True)
    purchased_at = models.DateTimeField(null=True, blank=True)
    purchase = models.ForeignKey(
        "contacts.Touchpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("referred")), name="referral_not_self"),
            models.CheckConstraint(
                condition=Q(status="invited") | Q(referred__isnull=False), name="referral_signed_up_has_contact"
            ),
            models.CheckConstraint(
                condition=~Q(status="purchased") | Q(purchased_at__isnull=False), name="referral_purchased_has_time"
            ),
        ]
        indexes = [
            # Pending conversions (status signed_up) for the set-based conversion pass.
            models.Index(fields=["status", "referred"], name="referral_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.referred_id or self.invited_email} ({self.status})"


class TierChange(models.Model):
    """Append-only history of tier moves, like StageTransition: effective and recorded times, announced or not.

    `announced` is False for changes found while backfilling history: plays and webhooks act
    only on announced changes (new and current facts).
    """

    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    effective_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    announced = models.BooleanField(default=True)

    class Meta:
        ordering = ["member_id", "effective_at", "id"]
        indexes = [models.Index(fields=["recorded_at"], name="tier_change_recorded_idx")]

    def __str__(self) -> str:
        return f"member {self.member_id}: {self.from_tier_id} → {self.to_tier_id}"
