"""Template tags of the lifecycle history: a contact's time per stage for the contact page (issue 17)."""

from __future__ import annotations

import datetime as dt

from django import template

from stages.selectors import StageTime, contact_stage_history

register = template.Library()


@register.simple_tag
def stage_times(contact) -> list[StageTime]:
    """Per stage the contact visited: visits, latest and cumulative time (effective time), in path order."""
    return contact_stage_history(contact_id=contact.pk).stages


@register.filter
def span(value: dt.timedelta) -> str:
    """A duration as days and hours ("12 d 4 h", "3 h", "under an hour")."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours = rest // 3600
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h" if hours else "under an hour"
