"""The one contact filter set, shared by the REST API, the dashboard contact list and saved segments.

A Segment stores exactly these query parameters (`campaigns.Segment.filters`), so a
filter added here is at once available in the API, in the contact list and in segments.
Use `contacts.selectors.contact_list(user=…, filters=…)` to apply it with the user's
scope; build the FilterSet directly only to render its form.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import DecimalField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower
from django.http import QueryDict

from campaigns.models import Segment
from contacts.aliases import alias_contact_ids
from contacts.models import AliasKind, Channel, Contact, Tag
from lifecycle_crm.filter_fields import (
    IdFilter,
    MultipleIdFilter,
    MultipleTextFilter,
    StrictBooleanFilter,
    enum_schema,
    money_schema,
)
from stages.models import Stage

# Public ordering names → the ORM expression sorted on (never NULL, so cursor pagination can
# seek on it). The primary key is always appended as the tie-breaker.
_CLV = DecimalField(max_digits=14, decimal_places=2)
ORDERING_KEYS: dict[str, Any] = {
    "id": "id",
    "created_at": "created_at",
    "acquired_at": "acquired_at",
    "stage_entered_at": "stage_entered_at",
    "email": "email",
    "last_name": "last_name",
    "predicted_clv": Coalesce("metrics__predicted_clv", Value(Decimal("0")), output_field=_CLV),
    "historic_clv": Coalesce("metrics__historic_clv", Value(Decimal("0")), output_field=_CLV),
}
ORDERING_CHOICES = [(name, name) for key in ORDERING_KEYS for name in (key, f"-{key}")]
DEFAULT_ORDERING = "-id"
SEGMENT_MAX_DEPTH = 3  # a segment may name another segment; stop cycles
_SEVERAL = "several as repeated parameters or comma-separated"


def _rfm_segments() -> list[str]:
    """The RFM segment names, read through the contact's own relation to its metrics row."""
    return [value for value, _ in Contact.metrics.related.related_model._meta.get_field("rfm_segment").choices]


def _at_risk_p_alive() -> float:
    return float(getattr(settings, "CRM_AT_RISK_P_ALIVE", 0.5))


def filters_to_querydict(filters: Mapping[str, Any] | QueryDict | None) -> QueryDict:
    """Turn a saved filter dict (`{"stage": ["at_risk"], "at_risk": true}`) into request-style query data.

    Segments are stored as JSON; the FilterSet reads a QueryDict. Lists become repeated
    keys, booleans `true`/`false`, None is dropped.
    """
    if isinstance(filters, QueryDict):
        return filters
    data = QueryDict(mutable=True)
    for key, value in (filters or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        cleaned = []
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                cleaned.append("true" if item else "false")
            else:
                cleaned.append(str(item))
        if cleaned:
            data.setlist(str(key), cleaned)
    return data


_MONEY = {"max_digits": 16, "decimal_places": 2}


class ContactFilterSet(django_filters.FilterSet):
    """Filters of the contact list: stage, owner, channel, tag, segment, date and CLV ranges, risk, text search.

    `user` (optional) is the viewer, used only by `mine`. Every relation filter comes as
    `<fk>` (slug, username or name) and `<fk>_id`.
    """

    stage = django_filters.ModelMultipleChoiceFilter(
        method="filter_stage",
        to_field_name="slug",
        queryset=Stage.objects.all(),
        help_text="Stage slug; repeat for several (`?stage=purchase&stage=retention`).",
    )
    stage_id = MultipleIdFilter(method="filter_stage_id", help_text=f"Stage id; {_SEVERAL}.")
    owner = MultipleTextFilter(method="filter_owner", help_text=f"Owner username; {_SEVERAL}.")
    owner_id = MultipleIdFilter(field_name="owner_id", help_text=f"Owner user id; {_SEVERAL}.")
    unowned = StrictBooleanFilter(field_name="owner", lookup_expr="isnull", help_text="No owner.")
    mine = StrictBooleanFilter(method="filter_mine", help_text="Only contacts owned by the viewer.")
    channel = django_filters.MultipleChoiceFilter(
        method="filter_channel", choices=Channel.choices, help_text="Acquisition channel; repeat for several."
    )
    tag = MultipleTextFilter(method="filter_tag", help_text=f"Tag name (case-insensitive); {_SEVERAL}.")
    tag_id = MultipleIdFilter(method="filter_tag_id", help_text=f"Tag id; {_SEVERAL}.")
    segment = IdFilter(method="filter_segment", help_text="Segment id: apply its saved filters.")
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at", help_text="`created_after` / `created_before` (YYYY-MM-DD, inclusive)."
    )
    acquired = django_filters.DateFromToRangeFilter(field_name="acquired_at")
    stage_entered = django_filters.DateFromToRangeFilter(field_name="stage_entered_at")
    clv_min = money_schema(
        django_filters.NumberFilter(field_name="metrics__predicted_clv", lookup_expr="gte", **_MONEY)
    )
    clv_max = money_schema(
        django_filters.NumberFilter(field_name="metrics__predicted_clv", lookup_expr="lte", **_MONEY)
    )
    historic_clv_min = money_schema(
        django_filters.NumberFilter(field_name="metrics__historic_clv", lookup_expr="gte", **_MONEY)
    )
    historic_clv_max = money_schema(
        django_filters.NumberFilter(field_name="metrics__historic_clv", lookup_expr="lte", **_MONEY)
    )
    rfm_segment = enum_schema(
        MultipleTextFilter(
            field_name="metrics__rfm_segment",
            lookup_expr="in",
            choices=_rfm_segments,
            help_text=f"RFM segment; {_SEVERAL}.",
        ),
        _rfm_segments(),
    )
    at_risk = StrictBooleanFilter(
        method="filter_at_risk",
        help_text="In the at_risk stage, or a customer whose probability of being alive is below the threshold.",
    )
    q = django_filters.CharFilter(
        method="filter_q", max_length=200, help_text="Text search: name, email, company, phone, external id."
    )
    email = django_filters.CharFilter(method="filter_email", max_length=254, help_text="Exact email, any case.")
    external_id = django_filters.CharFilter(
        method="filter_external_id", max_length=100, help_text="Exact external id, or one merged into this contact."
    )
    ordering = django_filters.ChoiceFilter(
        choices=ORDERING_CHOICES, method="filter_ordering", empty_label=None, help_text="Sort key; `-` for descending."
    )

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, user=None, depth: int = 0):
        super().__init__(data=data, queryset=queryset, request=request, prefix=prefix)
        self.user = user if user is not None else getattr(request, "user", None)
        self.depth = depth
        if self.is_bound:
            # Only the filters the data names take part (a range filter by its `<name>_after` /
            # `_before` keys): the form is built from `self.filters`, and building all of them
            # (fields, labels, copies) cost ~5 ms of CPU per filtered API page, while a filter
            # that is not given never changes the queryset. This set never renders a form.
            given = [key for key in self.data if isinstance(key, str)]
            self.filters = {
                name: spec
                for name, spec in self.filters.items()
                if any(key == name or key.startswith(f"{name}_") for key in given)
            }

    # --- methods ---------------------------------------------------------------------------

    def filter_stage(self, queryset: QuerySet, name: str, value: list[Stage]) -> QuerySet:
        # IN on the indexed FK column; no join to stages and no DISTINCT.
        return queryset.filter(stage_id__in=[stage.pk for stage in value]) if value else queryset

    def filter_stage_id(self, queryset: QuerySet, name: str, value: list[int]) -> QuerySet:
        return queryset.filter(stage_id__in=value) if value else queryset

    def filter_channel(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return queryset.filter(acquisition_channel__in=value) if value else queryset

    def filter_owner(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return queryset.filter(owner__username__in=value) if value else queryset

    def filter_mine(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        pk = getattr(self.user, "pk", None)
        if value:
            return queryset.filter(owner_id=pk) if pk is not None else queryset.none()
        return queryset.exclude(owner_id=pk) if pk is not None else queryset

    def _with_tags(self, queryset: QuerySet, tag_ids: QuerySet | list[int]) -> QuerySet:
        # EXISTS instead of a join: no duplicate rows, no DISTINCT over a million contacts.
        through = Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag_id__in=tag_ids)
        return queryset.filter(Exists(through))

    def filter_tag(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        names = [v.lower() for v in value]
        tag_ids = Tag.objects.annotate(lname=Lower("name")).filter(lname__in=names).values("pk")
        return self._with_tags(queryset, tag_ids)

    def filter_tag_id(self, queryset: QuerySet, name: str, value: list[int]) -> QuerySet:
        return self._with_tags(queryset, list(value)) if value else queryset

    def filter_segment(self, queryset: QuerySet, name: str, value: int | None) -> QuerySet:
        if value is None:
            return queryset
        segment = Segment.objects.filter(pk=value).first()
        if segment is None:
            raise ValidationError({"segment": f"No segment with id {value}."})
        if self.depth >= SEGMENT_MAX_DEPTH:
            raise ValidationError({"segment": "Segments nest too deeply (a segment refers back to itself?)."})
        nested = ContactFilterSet(
            filters_to_querydict(segment.filters), queryset=queryset, user=self.user, depth=self.depth + 1
        )
        if not nested.is_valid():
            raise ValidationError({"segment": f"Segment {segment.name!r} has invalid saved filters: {nested.errors}"})
        return nested.qs

    def filter_at_risk(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        # Stage ids resolved first (a look-up of ~10 rows): compared by slug and category through a join,
        # PostgreSQL cannot tell how many contacts match and, guessing a few dozen, scanned and sorted
        # all 1M contacts for a page (0.9 s at 1M) instead of walking the id index until 50 match (~40 ms).
        stages = list(Stage.objects.filter(Q(slug="at_risk") | Q(category="customer")).values_list("pk", "slug"))
        slipping = Q(stage_id__in=[pk for pk, slug in stages if slug == "at_risk"]) | Q(
            metrics__purchase_count__gt=0,
            metrics__p_alive__lt=_at_risk_p_alive(),
            stage_id__in=[pk for pk, slug in stages if slug != "at_risk"],
        )
        return queryset.filter(slipping) if value else queryset.exclude(slipping)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Every word must appear in one of the fields, so "ada lovelace" finds first + last name.
        for word in value.split()[:8]:
            queryset = queryset.filter(
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(email__icontains=word)
                | Q(company__icontains=word)
                | Q(phone__icontains=word)
                | Q(external_id__icontains=word)
            )
        return queryset

    def filter_email(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # LOWER(email) = … is what the case-insensitive unique index serves (iexact would use UPPER);
        # a merged-away email names its survivor (issue 17: aliases).
        if not value:
            return queryset
        direct = Q(lemail=value.strip().lower())
        return queryset.alias(lemail=Lower("email")).filter(
            direct | Q(pk__in=alias_contact_ids(kind=AliasKind.EMAIL, value=value))
        )

    def filter_external_id(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(
            Q(external_id=value) | Q(pk__in=alias_contact_ids(kind=AliasKind.EXTERNAL_ID, value=value))
        )

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return contact_order(queryset, ordering=value)

    # --- helpers ---------------------------------------------------------------------------

    @classmethod
    def validate_saved(cls, filters: Mapping[str, Any]) -> dict[str, Any]:
        """Check a filter dict before it is saved as a segment; raises ValidationError naming the bad filters."""
        if not isinstance(filters, Mapping):
            raise ValidationError({"filters": "Filters must be a JSON object of contact-list filters."})
        unknown = sorted(set(filters) - FILTER_PARAMS)
        if unknown:
            raise ValidationError({"filters": f"Unknown filter(s): {', '.join(map(str, unknown))}."})
        filterset = cls(filters_to_querydict(filters), queryset=Contact.objects.none(), depth=1)
        if not filterset.is_valid():
            raise ValidationError({"filters": [f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()]})
        try:
            filterset.qs  # runs the method filters too (unknown segment, bad tag ids)  # noqa: B018
        except ValidationError as exc:
            raise ValidationError({"filters": exc.messages}) from None
        return dict(filters)


def contact_order(queryset: QuerySet, *, ordering: str | None) -> QuerySet:
    """Order contacts by a public ordering name, with the id as tie-breaker so cursors are stable."""
    ordering = ordering or DEFAULT_ORDERING
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in ORDERING_KEYS:
        raise ValidationError({"ordering": f"{ordering!r} is not a sort key."})
    expression = ORDERING_KEYS[key]
    prefix = "-" if descending else ""
    if key == "id":
        return queryset.order_by(f"{prefix}id")
    if isinstance(expression, str):
        return queryset.order_by(f"{prefix}{expression}", f"{prefix}id")
    sort_name = f"sort_{key}"
    return queryset.annotate(**{sort_name: expression}).order_by(f"{prefix}{sort_name}", f"{prefix}id")


# Every query parameter the filter set reads (range filters read `<name>_after` / `<name>_before`).
FILTER_PARAMS = frozenset(
    name
    for key, f in ContactFilterSet.base_filters.items()
    for name in ((f"{key}_after", f"{key}_before") if isinstance(f, django_filters.DateFromToRangeFilter) else (key,))
)
