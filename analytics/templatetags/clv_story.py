"""`{% value_story contact as story %}`: the contact page's value story (analytics.clv_story) for a template.

A template tag, so the contact page (contacts app, below analytics) shows it without the
contacts code importing analytics.
"""

from __future__ import annotations

from typing import Any

from django import template

from analytics.clv_story import ValueStory
from analytics.clv_story import value_story as build_story
from analytics.selectors import clv_live_fit_latest

register = template.Library()


@register.simple_tag
def value_story(contact: Any) -> ValueStory | None:
    """The contact's value story under the latest live fit (one query), or None."""
    metrics = getattr(contact, "metrics", None) if hasattr(contact, "metrics") else None
    if metrics is None:
        return None
    return build_story(contact=contact, metrics=metrics, fit=clv_live_fit_latest())
