"""The one decision whether a stage move may cause side effects (plays, emails, webhooks, tasks, notifications).

Issue 17: history, snapshots and reports use a move's effective time; side effects act only on
what is new to the system and still true now. A move qualifies when it is
- the contact's current stage (nothing moved the contact on since, no restatement replaced it),
- new to the system (recorded within the window of now: not a backfill found later),
- effective within the window of now (not history: an old purchase pushed today is no news),
- not from an import, a merge or a contact's first placement.
Imports, replays (a past `--as-of`) and dry runs never reach this function: they evaluate with
`announce=False`. Every enqueue point (the engine, manual moves, the plays trigger, the outbox
relay) calls `transitions_may_trigger` before anything is enqueued.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from contacts.models import Contact
from stages.models import StageTransition, TransitionSource
from stages.signals import stage_changed

QUIET_SOURCES = (TransitionSource.IMPORT, TransitionSource.MERGE, TransitionSource.SYSTEM)


def event_window() -> dt.timedelta:
    """How far from now a move's effective and recorded times may lie for it to count as news."""
    return dt.timedelta(hours=getattr(settings, "PLAYS_EVENT_MAX_AGE_HOURS", 48))


def transitions_may_trigger(
    *, transition_ids: Sequence[int], now: dt.datetime | None = None, window: dt.timedelta | None = None
) -> list[int]:
    """The ids among `transition_ids` that may cause side effects now (see the module docstring); one query."""
    ids = [int(i) for i in transition_ids]
    if not ids:
        return []
    now = now or timezone.now()
    window = window if window is not None else event_window()
    current = Contact.objects.filter(
        pk=OuterRef("contact_id"), stage_id=OuterRef("to_stage_id"), stage_entered_at=OuterRef("effective_at")
    )
    return sorted(
        StageTransition.objects.filter(
            pk__in=ids,
            effective_at__gte=now - window,
            effective_at__lte=now + dt.timedelta(minutes=5),  # a move is never dated in the future
            recorded_at__gte=now - window,
        )
        .exclude(source__in=QUIET_SOURCES)
        .filter(Exists(current))
        .values_list("pk", flat=True)
    )


def transitions_announce(transition_ids: Sequence[int]) -> list[int]:
    """In the moves' transaction: send `stage_changed` for the moves that may cause side effects; return their ids."""
    allowed = transitions_may_trigger(transition_ids=transition_ids)
    if allowed:
        stage_changed.send(sender=StageTransition, transition_ids=allowed)
    return allowed
