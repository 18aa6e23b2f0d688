"""Django admin for contacts, touchpoints and tags.

Built for big tables: no per-row queries (list_select_related), estimated page counts,
inlines that show only the latest rows of a contact's history with a link to the rest,
and autocomplete widgets instead of <select>s over every user, campaign or contact.
Writes go through contacts.services, so an admin-made contact gets its first
transition and an admin-logged touchpoint re-evaluates the contact's stage after commit.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from contacts.consent import REPEAT_CONSENT_MESSAGE, contact_erase
from contacts.models import Contact, Tag, Touchpoint, TouchpointSource
from contacts.services import CONTACT_FIELDS, contact_create, contact_update
from contacts.touchpoint_services import touchpoint_create
from lifecycle_crm.admin_utils import LargeTableAdminMixin, validate_by_dry_run
from metrics.models import ContactMetrics
from stages.models import StageTransition, TransitionSource
from stages.tasks import lifecycle_enqueue_evaluation

INLINE_LIMIT = 20


def _adopt(target: Any, saved: Any) -> None:
    """Make the admin's unsaved instance the row the service wrote, so admin logs and redirects name it."""
    target.__dict__.update({key: value for key, value in saved.__dict__.items() if key != "_state"})
    target._state.adding = False
    target._state.db = saved._state.db


class LatestRowsFormSet(BaseInlineFormSet):
    """An inline formset of only the newest `INLINE_LIMIT` rows: a contact with 10,000 touchpoints still opens fast."""

    def get_queryset(self):
        if not hasattr(self, "_latest_rows"):
            self._latest_rows = super().get_queryset()[:INLINE_LIMIT]
        return self._latest_rows


class ReadOnlyInline(admin.TabularInline):
    """History rows are facts written by services: shown, never edited inline."""

    formset = LatestRowsFormSet
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TouchpointInline(ReadOnlyInline):
    model = Touchpoint
    fields = ("occurred_at", "kind", "channel", "amount", "score", "campaign", "source", "logged_by", "note")
    readonly_fields = fields
    verbose_name_plural = f"Latest {INLINE_LIMIT} touchpoints"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("campaign", "logged_by").order_by("-occurred_at", "-id")


class StageTransitionInline(ReadOnlyInline):
    model = StageTransition
    fk_name = "contact"
    fields = ("effective_at", "from_stage", "to_stage", "source", "rule", "is_win_back", "user", "note", "recorded_at")
    readonly_fields = fields
    verbose_name_plural = f"Latest {INLINE_LIMIT} stage transitions"

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("from_stage", "to_stage", "rule", "user")
            .order_by("-effective_at", "-id")
        )


class ContactMetricsInline(admin.StackedInline):
    """The recompute's numbers for this contact (read-only: rewritten nightly)."""

    model = ContactMetrics
    can_delete = False
    extra = 0
    fields = (
        ("purchase_count", "revenue", "refunds", "touch_count"),
        ("first_purchase_at", "last_purchase_at", "last_touch_at"),
        ("recency_score", "frequency_score", "monetary_score", "rfm_segment"),
        ("historic_clv", "predicted_clv", "expected_purchases", "p_alive", "expected_spend"),
        "computed_at",
    )
    readonly_fields = tuple(name for row in fields for name in (row if isinstance(row, tuple) else (row,)))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceBackedForm(forms.ModelForm):
    """A model form whose uniqueness and business rules are checked by the service it will be saved with.

    `validate_unique` is left to the service, which answers with clearer messages than the
    generic "constraint violated"; `clean` tries the service in a rolled-back savepoint.
    """

    service_user: Any = None

    def validate_unique(self) -> None:
        return None


class ContactAdminForm(ServiceBackedForm):
    # The consent ledger (issue 17): where and why consent changed; needed to re-consent an unsubscribed contact.
    consent_source = forms.CharField(
        max_length=40, required=False, help_text="Where the person gave or withdrew consent (ledger)."
    )
    consent_reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = Contact
        fields = (*sorted(CONTACT_FIELDS), "tags")

    def service_data(self) -> dict[str, Any]:
        """The profile fields for contacts.services (only the changed ones when editing), with the ledger's keys."""
        names = [name for name in CONTACT_FIELDS if name in self.cleaned_data]
        if self.instance.pk is not None:
            names = [name for name in names if name in self.changed_data]
        data = {name: self.cleaned_data[name] for name in names}
        if "marketing_consent" in data:
            data["consent_source"] = self.cleaned_data.get("consent_source") or "admin"
            data["consent_reason"] = self.cleaned_data.get("consent_reason") or ""
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if (
            self.instance.pk is not None
            and cleaned.get("marketing_consent")
            and "marketing_consent" in self.changed_data
            and self.instance.unsubscribed_at is not None
            and not cleaned.get("consent_reason")
        ):
            self.add_error(
                "consent_reason", REPEAT_CONSENT_MESSAGE.format(day=f"{self.instance.unsubscribed_at:%Y-%m-%d}")
            )
            return cleaned
        data = self.service_data()
        if self.instance.pk is None:
            validate_by_dry_run(
                self, lambda: contact_create(data=data, source=TransitionSource.MANUAL, user=self.service_user)
            )
        else:
            original = Contact.objects.get(pk=self.instance.pk)
            validate_by_dry_run(self, lambda: contact_update(contact=original, data=data, user=self.service_user))
        return cleaned


@admin.register(Contact)
class ContactAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    form = ContactAdminForm
    list_display = (
        "email",
        "full_name",
        "company",
        "stage",
        "stage_entered_at",
        "owner",
        "acquisition_channel",
        "acquired_at",
        "marketing_consent",
    )
    list_select_related = ("stage", "owner")
    list_filter = ("stage", "acquisition_channel", "marketing_consent", "stage_source", "owner", "tags", "acquired_at")
    # Searching "=external_id" is an exact (indexed) match; the name fields are substring matches.
    search_fields = ("email", "first_name", "last_name", "company", "=external_id")
    autocomplete_fields = ("owner", "acquisition_campaign", "tags")
    readonly_fields = (
        "stage",
        "stage_entered_at",
        "stage_source",
        "journey",
        "consent_updated_at",
        "unsubscribed_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("email", ("first_name", "last_name"), "phone", "company", "external_id")}),
        (
            "Ownership and acquisition",
            {"fields": ("owner", "acquisition_channel", "acquisition_campaign", "acquired_at")},
        ),
        (
            "Marketing",
            {
                "fields": (
                    "marketing_consent",
                    "consent_source",
                    "consent_reason",
                    "consent_updated_at",
                    "unsubscribed_at",
                    "tags",
                )
            },
        ),
        (
            "Lifecycle",
            {
                "fields": ("stage", "stage_entered_at", "stage_source", "journey"),
                "description": "The stage is set by the lifecycle rules or by a manual move with a reason, "
                "never by editing this form.",
            },
        ),
        ("Custom attributes", {"fields": ("attributes",), "classes": ("collapse",)}),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (ContactMetricsInline, StageTransitionInline, TouchpointInline)
    actions = ("erase_personal_data",)

    @admin.action(description="Erase personal data on request (aggregates stay; the consent ledger records it)")
    def erase_personal_data(self, request: HttpRequest, queryset) -> None:
        # Few rows by nature (requests come one by one); each erasure is its own service call and ledger entry.
        erased = 0
        for contact in queryset.order_by("pk")[:100]:
            contact_erase(
                contact=contact, user=request.user, reason=f"Erasure requested; done in admin by {request.user}"
            )
            erased += 1
        self.message_user(request, f"Erased the personal data of {erased} contact(s).")

    def get_queryset(self, request: HttpRequest):
        # The change page shows the stage, owner and campaign: one join instead of three lookups.
        return super().get_queryset(request).select_related("stage", "owner", "acquisition_campaign")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.service_user = request.user  # a fresh class per request: safe to set here
        return form

    def get_inlines(self, request: HttpRequest, obj: Any):
        return self.inlines if obj is not None else ()

    @admin.display(description="Journey")
    def journey(self, obj: Contact) -> str:
        """Counts of the contact's history with links to the full, filterable lists."""
        if obj.pk is None:
            return "-"
        parts = []
        for model, label in ((Touchpoint, "touchpoint(s)"), (StageTransition, "stage transition(s)")):
            count = model.objects.filter(contact_id=obj.pk).count()
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            except NoReverseMatch:  # that model's admin is not registered
                parts.append(format_html("{} {}", count, label))
            else:
                parts.append(format_html('<a href="{}?contact__id__exact={}">{} {}</a>', url, obj.pk, count, label))
        return format_html_join(" · ", "{}", ((part,) for part in parts))

    def save_model(self, request: HttpRequest, obj: Contact, form: ContactAdminForm, change: bool) -> None:
        data = form.service_data()
        if "consent_source" in data:
            data["consent_ip"] = request.META.get("REMOTE_ADDR") or None  # the consent ledger keeps a form's IP
        if change:
            # The form already copied its values onto `obj`; the service compares against the stored row.
            saved = contact_update(contact=Contact.objects.get(pk=obj.pk), data=data, user=request.user)
        else:
            saved = contact_create(data=data, source=TransitionSource.MANUAL, user=request.user)
        _adopt(obj, saved)


class TouchpointAdminForm(ServiceBackedForm):
    class Meta:
        model = Touchpoint
        fields = (
            "contact",
            "kind",
            "channel",
            "occurred_at",
            "amount",
            "score",
            "campaign",
            "external_id",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "note",
        )

    def service_data(self) -> dict[str, Any]:
        """The touchpoint as touchpoint_services.touchpoint_create takes it (ids for the contact and campaign)."""
        data = {name: self.cleaned_data.get(name) for name in self.Meta.fields}
        data["contact"] = data["contact"].pk if data["contact"] else None
        data["campaign"] = data["campaign"].pk if data["campaign"] else None
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            data = self.service_data()
            validate_by_dry_run(
                self,
                lambda: touchpoint_create(data=data, source=TouchpointSource.MANUAL, logged_by=self.service_user),
            )
        return cleaned


@admin.register(Touchpoint)
class TouchpointAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Touchpoints are facts: added through the service, viewed and deleted here, not edited."""

    form = TouchpointAdminForm
    list_display = ("occurred_at", "kind", "contact", "channel", "amount", "score", "campaign", "source", "logged_by")
    list_select_related = ("contact", "campaign", "logged_by")
    list_filter = ("kind", "channel", "source", "occurred_at", "campaign")
    # Exact matches only: a substring search over millions of rows would scan them all.
    search_fields = ("=contact__email", "=contact__external_id", "=external_id", "=utm_campaign")
    autocomplete_fields = ("contact", "campaign")
    readonly_fields = ("source", "logged_by", "created_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.service_user = request.user
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # There is no update service for touchpoints (they record what happened); the
        # change page is a read-only view.
        return False

    def save_model(self, request: HttpRequest, obj: Touchpoint, form: TouchpointAdminForm, change: bool) -> None:
        result = touchpoint_create(data=form.service_data(), source=TouchpointSource.MANUAL, logged_by=request.user)
        if not result.created:
            messages.info(request, "A touchpoint with this external id was already stored; nothing new was added.")
        _adopt(obj, result.touchpoint)

    @transaction.atomic
    def delete_model(self, request: HttpRequest, obj: Touchpoint) -> None:
        contact_id = obj.contact_id
        super().delete_model(request, obj)
        _reevaluate([contact_id])

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        contact_ids = sorted(set(queryset.values_list("contact_id", flat=True)))
        super().delete_queryset(request, queryset)
        _reevaluate(contact_ids)


def _reevaluate(contact_ids: list[int]) -> None:
    """A deleted purchase can change a stage: re-evaluate the contacts (an outbox row committed with the delete)."""
    lifecycle_enqueue_evaluation(contact_ids=contact_ids)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    ordering = ("name",)
