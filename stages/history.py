"""Late facts: a touchpoint that happened before moves the system already recorded rewrites the history after it.

Issue 17: pushing purchases 200 and 365 days old for a new contact used to stamp its moves with
the current time (its first placement was "now", and no move may predate the stage it leaves),
so "Thank you for your first order" and "We miss you" went out at once. Now the real-time path
first looks for late facts — a touchpoint received after a move it precedes was recorded — and
for those contacts restates the history from the earliest one:

1. the rule moves effective from then on are removed (moves by hand, by plays and merges stay:
   the rules respect them), and a first placement later than the fact moves back to it;
2. the contact's cached stage is reset to the latest remaining move;
3. the contact is replayed quietly (`announce=False`) as of the day before and the day of each
   later touch, which rebuilds the same moves, with the same effective times, that a system
   told of every fact on its day would have recorded (see tests/stages/test_replay_exact.py);
4. stored daily snapshots from that day on are restated (`restated_at`) where the counts change
   (also when a fact that is not late for any move lands before a stored snapshot's day).

Only the final real-time evaluation may announce a move, and only through
`stages.announce.transitions_may_trigger` (current, new, effective within the window of now).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact, Touchpoint
from stages.engine import lifecycle_evaluate
from stages.engine_base import evaluation_times
from stages.models import StageSnapshot, StageTransition, TransitionSource
from stages.signals import snapshots_restated

# Moves the rules respect (engine policy): they are kept by a restatement and bound where it starts.
HAND_SOURCES = (TransitionSource.MANUAL, TransitionSource.API, TransitionSource.PLAY, TransitionSource.MERGE)


def late_facts(*, contact_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """Contacts with a touchpoint received after a move it precedes was recorded: contact id → earliest such time.

    One query over the contacts' touchpoints and moves (a few contacts: the real-time path).
    """
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return {}
    touchpoints = Touchpoint._meta.db_table
    transitions = StageTransition._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.contact_id, MIN(t.occurred_at) FROM {touchpoints} t WHERE t.contact_id IN ({marks})"
            f" AND EXISTS (SELECT 1 FROM {transitions} s WHERE s.contact_id = t.contact_id"
            " AND s.effective_at > t.occurred_at AND s.recorded_at < t.received_at)"
            " GROUP BY t.contact_id",
            ids,
        )
        rows = cursor.fetchall()
    return {int(cid): _aware(when) for cid, when in rows}


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):  # SQLite returns aggregates of datetimes as text
        value = dt.datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


def _stage_at(history: list[tuple[dt.datetime, int]], moment: dt.datetime) -> int | None:
    """The stage of a contact at `moment` from its (effective_at, to_stage_id) history in order."""
    found = None
    for when, stage_id in history:
        if when > moment:
            break
        found = stage_id
    return found


def contact_histories(contact_ids: Sequence[int]) -> dict[int, list[tuple[dt.datetime, int]]]:
    out: dict[int, list[tuple[dt.datetime, int]]] = {int(i): [] for i in contact_ids}
    rows = (
        StageTransition.objects.filter(contact_id__in=contact_ids)
        .order_by("contact_id", "effective_at", "id")
        .values_list("contact_id", "effective_at", "to_stage_id")
    )
    for cid, when, stage_id in rows:
        out[cid].append((when, stage_id))
    return out


@transaction.atomic
def lifecycle_history_restate(*, since: dict[int, dt.datetime]) -> list[int]:
    """Rewrite these contacts' rule-made history from each one's `since` (see the module docstring); return them.

    A loop over the given contacts: this is the real-time path for the few contacts a push
    touched, never the nightly run over everyone.
    """
    if not since:
        return []
    ids = sorted(since)
    starts: dict[int, dt.datetime] = {}
    for contact in Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
        fact = since[contact.pk]
        moves = list(StageTransition.objects.filter(contact=contact).order_by("effective_at", "id"))
        anchors = [m.effective_at for m in moves if m.from_stage_id is not None and m.source in HAND_SOURCES]
        start = max([fact, *anchors])
        first = moves[0] if moves else None
        if first is not None and first.from_stage_id is None and first.effective_at > fact and not anchors:
            # The contact existed in the customer's life before we created it: its first placement moves
            # back to its earliest fact, so the moves that fact causes keep their own time.
            StageTransition.objects.filter(pk=first.pk).update(effective_at=fact)
        StageTransition.objects.filter(contact=contact, source=TransitionSource.RULE, effective_at__gte=start).delete()
        latest = StageTransition.objects.filter(contact=contact).order_by("-effective_at", "-id").first()
        if latest is not None:
            Contact.objects.filter(pk=contact.pk).update(
                stage_id=latest.to_stage_id,
                stage_entered_at=latest.effective_at,
                stage_source=latest.source,
                updated_at=timezone.now(),
            )
        starts[contact.pk] = start
    earliest = min(starts.values())
    today = timezone.localdate()
    days: set[dt.date] = set()
    for when in Touchpoint.objects.filter(contact_id__in=ids, occurred_at__gte=earliest).values_list(
        "occurred_at", flat=True
    ):
        day = timezone.localtime(when).date()
        days.update({day - dt.timedelta(days=1), day})
    for day in sorted(d for d in days if d < today):
        lifecycle_evaluate(contact_ids=ids, as_of=day, write_metrics=False, announce=False)
    return ids


def stage_snapshots_restate(
    *, contact_ids: Sequence[int], since: dt.date, before: dict[int, list[tuple[dt.datetime, int]]]
) -> int:
    """Correct the stored daily snapshots from `since` for the change in these contacts' history; return rows changed.

    The change per (day, stage) is the contacts' stage at that day's end after the
    restatement minus before it; changed rows keep their first stored count in
    `previous_contacts` and are marked `restated_at`, so the chart can say so.
    """
    dates = list(StageSnapshot.objects.filter(date__gte=since).order_by().values_list("date", flat=True).distinct())
    if not dates:
        return 0
    after = contact_histories(contact_ids)
    delta: Counter = Counter()
    for day in dates:
        end = evaluation_times(as_of=day)[1]
        for cid in contact_ids:
            old, new = _stage_at(before.get(cid, []), end), _stage_at(after.get(cid, []), end)
            if old != new:
                if old is not None:
                    delta[(day, old)] -= 1
                if new is not None:
                    delta[(day, new)] += 1
    now = timezone.now()
    changed = 0
    for (day, stage_id), change in delta.items():
        if change:
            # previous_contacts keeps the count first published: a second restatement does not overwrite it.
            changed += StageSnapshot.objects.filter(date=day, stage_id=stage_id).update(
                previous_contacts=Coalesce(F("previous_contacts"), F("contacts")),
                contacts=F("contacts") + change,
                restated_at=now,
            )
    if changed:
        # Results of the stage-count chart (analytics, above stages) read the old counts: analytics drops them.
        snapshots_restated.send(sender=StageSnapshot, report="stage_counts")
    return changed
