"""Template helpers of the dashboard: touchpoint icons (inline SVG, no icon CDN), query-string edits, money."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html

from lifecycle_crm.formats import MISSING, format_money, format_percent

register = template.Library()

# Simple 24x24 stroke icons, drawn inline so the page needs no icon font or network.
_PATHS = {
    "click": "M9 3v4M3 9h4M5 5l2.5 2.5M12 12l8 3-3.5 1.5L15 20z",
    "eye": "M2 12s3.5-6 10-6 10 6 10 6-3.5 6-10 6S2 12 2 12zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
    "mail": "M3 6h18v12H3zM3 7l9 6 9-6",
    "doc": "M6 3h8l4 4v14H6zM14 3v4h4M9 13h6M9 17h6",
    "video": "M3 7h12v10H3zM15 10l6-3v10l-6-3",
    "share": "M18 8a3 3 0 1 0-3-3M6 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM18 22a3 3 0 1 0 0-6M8.6 13.5l6.8 4M15.4 6.5l-6.8 4",
    "chat": "M4 5h16v11H8l-4 4z",
    "phone": "M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 5a2 2 0 0 1 2-2z",
    "people": "M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20a6 6 0 0 1 12 0M17 11a3 3 0 1 0 0-6M21 20a6 6 0 0 0-4-5.6",
    "screen": "M3 4h18v12H3zM8 20h8M12 16v4",
    "quote": "M7 3h10v18l-5-3-5 3z",
    "rocket": "M12 2c4 3 5 8 3 13H9C7 10 8 5 12 2zM9 15l-3 4M15 15l3 4M12 8v2",
    "cart": "M3 4h2l2.5 11h11L21 7H6.5M9 20a1 1 0 1 0 0-.1M18 20a1 1 0 1 0 0-.1",
    "coin": "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM15 9h-4a1.5 1.5 0 0 0 0 3h2a1.5 1.5 0 0 1 0 3H9M12 7v2M12 15v2",
    "undo": "M9 14L4 9l5-5M4 9h10a6 6 0 0 1 0 12h-3",
    "lifebuoy": (
        "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z"
        "M5.6 5.6l3.6 3.6M14.8 14.8l3.6 3.6M18.4 5.6l-3.6 3.6M9.2 14.8l-3.6 3.6"
    ),
    "star": "M12 3l2.8 5.8 6.2.9-4.5 4.4 1 6.2L12 17.4l-5.5 2.9 1-6.2L3 9.7l6.2-.9z",
    "heart": "M12 20s-7-4.5-7-10a4 4 0 0 1 7-2.6A4 4 0 0 1 19 10c0 5.5-7 10-7 10z",
    "ban": "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM5.6 5.6l12.8 12.8",
    "check": "M4 12l5 5L20 6",
    "note": "M5 4h14v16H5zM8 8h8M8 12h8M8 16h5",
}
_KIND_ICON = {
    "ad_click": ("click", ""),
    "site_visit": ("eye", ""),
    "email_sent": ("mail", ""),
    "email_open": ("mail", ""),
    "email_click": ("mail", ""),
    "form_submit": ("doc", ""),
    "content_download": ("doc", ""),
    "webinar": ("video", "talk"),
    "social_share": ("share", ""),
    "chat": ("chat", "talk"),
    "call": ("phone", "talk"),
    "meeting": ("people", "talk"),
    "demo": ("screen", "talk"),
    "quote_request": ("quote", ""),
    "trial_signup": ("rocket", ""),
    "cart_abandoned": ("cart", "alert"),
    "purchase": ("coin", "money"),
    "refund": ("undo", "alert"),
    "support_ticket": ("lifebuoy", ""),
    "survey_response": ("star", ""),
    "review": ("star", "money"),
    "referral": ("heart", "money"),
    "unsubscribe": ("ban", "alert"),
    "task_completed": ("check", ""),
    "note": ("note", ""),
}


@register.simple_tag
def tp_icon(kind: str, label: str = "") -> str:
    """The round icon of a touchpoint kind, coloured by its family (money, talk, alert)."""
    name, family = _KIND_ICON.get(kind, ("note", ""))
    return format_html(
        '<span class="tp-icon {}" role="img" aria-label="{}"><svg viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" '
        'aria-hidden="true"><path d="{}"/></svg></span>',
        family,
        label or kind,
        _PATHS[name],
    )


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (None or "" removes them)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return "?" + encoded if encoded else "?"  # autoescaping turns & into &amp; in attributes


@register.filter
def money(value) -> str:
    """An amount in the one money format of the product (lifecycle_crm.formats): "1,441.52 USD"."""
    text = format_money(value)
    if text == MISSING:
        return text
    amount, code = text.rsplit(" ", 1)
    return format_html('<span class="money">{}<span class="cur"> {}</span></span>', amount, code)


@register.filter
def percent(value, digits: int = 1) -> str:
    """A share as a percentage in the one format of the product: "3.8 %"."""
    return format_percent(value, int(digits))


@register.filter
def change_text(kpi) -> str:
    """A KPI's change as "▲ 12.3% vs previous" (ratios) or "▼ 1.5 pts vs previous" (rates)."""
    change = kpi.change
    if change is None:
        return ""
    arrow = "▲" if change >= 0 else "▼"
    if kpi.fmt == "percent":
        return f"{arrow} {abs(change) * 100:.1f} pts vs previous"
    return f"{arrow} {abs(change) * 100:.1f}% vs previous"


@register.filter
def age(value) -> str:
    """How long ago, in the largest whole unit ("3 days", "5 weeks"); cheaper than `timesince` for long lists."""
    if value is None:
        return ""

    seconds = max(0, int((timezone.now() - value).total_seconds()))
    for unit, size in (("year", 31_536_000), ("month", 2_592_000), ("week", 604_800), ("day", 86_400), ("hour", 3_600)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "under an hour"
