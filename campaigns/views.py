"""Campaign pages: list with performance, detail with attributed stage advances, create and edit."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.web_access import MARKETING, roles_required
from analytics.charts import CHARTS_BY_KEY, chart_run
from analytics.kpis import OverviewQuery
from campaigns.forms import CampaignForm
from campaigns.models import Campaign
from campaigns.selectors import campaign_get, campaign_list
from campaigns.services import campaign_save

# The campaign page lists its newest members; more than a page of them is a job for the contact list or export.
MEMBERS_SHOWN = 100


def _campaign_query(campaign: Campaign | None = None) -> OverviewQuery:
    """The period a campaign's numbers cover: its own dates (to today), or the last year for the list."""
    now = timezone.now()
    if campaign is None:
        return OverviewQuery(start=now - dt.timedelta(days=365), end=now, period="365d")
    start = dt.datetime.combine(campaign.starts_on, dt.time.min, tzinfo=dt.UTC)
    end_day = min(campaign.ends_on or now.date(), now.date())
    end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return OverviewQuery(start=start, end=max(end, start + dt.timedelta(days=1)), campaign_id=campaign.pk)


@roles_required(MARKETING)
@require_GET
def campaign_list_view(request: HttpRequest) -> HttpResponse:
    """All campaigns with their performance over the last year (from the campaign report)."""
    campaigns = campaign_list()
    performance = chart_run(CHARTS_BY_KEY["campaigns"], _campaign_query())
    return render(request, "campaigns/list.html", {"campaigns": campaigns, "performance": performance})


@roles_required(MARKETING)
@require_GET
def campaign_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One campaign: its settings, performance and the stage advances attributed to it."""
    try:
        campaign = campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None
    query = _campaign_query(campaign)
    performance = chart_run(CHARTS_BY_KEY["campaigns"], query)
    row = figures = None
    if performance.data is not None:
        row = next((r for r in performance.data.rows if r[0] == campaign.name), None)
    if row is not None:
        # Each figure in its catalogue format, by the short name of its metric (campaign.roi -> "roi").
        columns = performance.data.columns
        figures = {c.metric.split(".", 1)[1]: c.entry.format(v) for c, v in zip(columns, row, strict=True)}
    flow = chart_run(CHARTS_BY_KEY["stage_flow"], query)
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "performance": performance,
            "row": row,
            "figures": figures,
            "flow": flow,
            "flow_json": {"stage_flow": {"kind": "sankey", **flow.data.series}} if flow.data else {},
            "query": query,
            "members": campaign.members.count(),
            "member_rows": campaign.members.select_related("contact__stage", "contact__owner").order_by(
                "-enrolled_at", "-id"
            )[:MEMBERS_SHOWN],
            "members_shown": MEMBERS_SHOWN,
            "touchpoints": campaign.touchpoints.count(),
        },
    )


def _save(request: HttpRequest, form: CampaignForm, *, created: bool) -> HttpResponse | None:
    if not form.is_valid():
        return None
    try:
        campaign = campaign_save(campaign=None if created else form.instance, data=form.cleaned_data, user=request.user)
    except ValidationError as exc:
        form.add_error(None, exc)
        return None
    messages.success(request, f"Campaign “{campaign.name}” {'created' if created else 'saved'}.")
    return redirect("web:campaign_detail", pk=campaign.pk)


@roles_required(MARKETING)
def campaign_create_view(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial={"starts_on": timezone.localdate()})
    if request.method == "POST" and (response := _save(request, form, created=True)):
        return response
    return render(request, "campaigns/form.html", {"form": form, "campaign": None})


@roles_required(MARKETING)
def campaign_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and (response := _save(request, form, created=False)):
        return response
    return render(request, "campaigns/form.html", {"form": form, "campaign": campaign})
