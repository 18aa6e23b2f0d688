"""Rule changes apply when saved (issue 17): a background re-evaluation with progress, and a dry run of a rule set.

Saving a stage rule (admin or API) queues a RuleApplication; a worker re-evaluates every
contact chunk by chunk through the one engine path (stages.engine.lifecycle_evaluate), so
the moves are exactly those the nightly run would make, announced through the same decision
(stages.announce: only what is new, current and within the window of now). The dry run
answers "who would this rule set move" without writing anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from accounts.actor import actor_split
from contacts.models import Contact
from stages.engine import EvaluationResult, lifecycle_evaluate
from stages.engine_base import DEFAULT_CHUNK_SIZE, chunk_ranges
from stages.engine_rules import RuleSpec, rules_active
from stages.models import ApplicationStatus, RuleApplication, Stage, StageRule, StageTransition
from stages.rules import validate_conditions
from stages.signals import rule_application_queued

logger = logging.getLogger(__name__)


def rule_application_start(*, rule: StageRule, user: Any = None) -> RuleApplication:
    """Queue the re-evaluation of every contact after `rule` was saved; the worker starts after commit.

    The signal is sent in the caller's transaction: its receiver's task is an outbox row committed with the rule.
    """
    application = RuleApplication.objects.create(
        rule=rule, rule_name=rule.name[:120], total=Contact.objects.count(), created_by=actor_split(user).user
    )
    rule_application_queued.send(sender=RuleApplication, application_id=application.pk)
    return application


def rule_application_run(*, application_id: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> RuleApplication:
    """Re-evaluate every contact in chunks, advancing `processed` after each; record who moved. Idempotent.

    The application is claimed with a conditional UPDATE (queued → running), so two workers
    never run the same one; a rerun of a finished one does nothing.
    """
    now = timezone.now()
    claimed = RuleApplication.objects.filter(pk=application_id, status=ApplicationStatus.QUEUED).update(
        status=ApplicationStatus.RUNNING, started_at=now
    )
    application = RuleApplication.objects.get(pk=application_id)
    if not claimed:
        return application
    try:
        for lo, hi in chunk_ranges(chunk_size=chunk_size):
            result = lifecycle_evaluate(id_range=(lo, hi), chunk_size=chunk_size)
            movers = _movers(result.transition_ids)
            room = RuleApplication.MOVERS_KEPT - len(application.movers)
            if movers and room > 0:
                application.movers = [*application.movers, *movers[:room]]
            RuleApplication.objects.filter(pk=application_id).update(
                processed=F("processed") + result.contacts, moved=F("moved") + result.moved, movers=application.movers
            )
        RuleApplication.objects.filter(pk=application_id).update(
            status=ApplicationStatus.DONE, finished_at=timezone.now()
        )
    except Exception as exc:
        RuleApplication.objects.filter(pk=application_id).update(
            status=ApplicationStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        logger.exception("Rule application %s failed", application_id)
    application.refresh_from_db()
    return application


def _movers(transition_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = (
        StageTransition.objects.filter(pk__in=list(transition_ids))
        .order_by("contact_id", "effective_at", "id")
        .values_list("pk", "contact_id", "from_stage__slug", "to_stage__slug")
    )
    return [{"transition_id": t, "contact_id": c, "from": f, "to": to} for t, c, f, to in rows]


# --- dry run of a rule set ---------------------------------------------------------------------------


def rule_specs_from_data(rules: list[dict[str, Any]]) -> list[RuleSpec]:
    """RuleSpecs from posted rules, validated like a save (field messages by rule index); a rule with the id of
    a saved rule replaces it, the others are added to the active rules."""
    stages = {stage.slug: stage for stage in Stage.objects.all()}
    specs: list[RuleSpec] = []
    errors: dict[str, Any] = {}
    for index, data in enumerate(rules):
        problems: dict[str, str] = {}
        if not isinstance(data, dict):
            errors[f"rules[{index}]"] = "Each rule must be an object."
            continue
        stage = stages.get(str(data.get("stage") or ""))
        if stage is None:
            problems["stage"] = f"Unknown stage {data.get('stage')!r}."
        try:
            conditions = validate_conditions(data.get("conditions"))
        except ValidationError as exc:
            problems["conditions"] = " ".join(exc.messages)
            conditions = []
        from_slugs = data.get("from_stages") or []
        unknown = [slug for slug in from_slugs if slug not in stages] if isinstance(from_slugs, list) else ["?"]
        if unknown:
            problems["from_stages"] = f"Unknown stage(s): {', '.join(map(str, unknown))}."
        match = data.get("match", "all")
        if match not in ("all", "any"):
            problems["match"] = "Use all or any."
        if problems:
            errors.update({f"rules[{index}].{name}": message for name, message in problems.items()})
            continue
        if not data.get("is_active", True):
            continue
        specs.append(
            RuleSpec(
                id=int(data["id"]) if str(data.get("id") or "").isdigit() else None,
                name=str(data.get("name") or f"Rule {index + 1}")[:120],
                stage_id=stage.pk,
                match=match,
                conditions=conditions,
                from_stage_ids=frozenset(stages[slug].pk for slug in from_slugs),
                priority=int(data.get("priority") or 0),
                is_win_back=bool(data.get("is_win_back", False)),
            )
        )
    if errors:
        raise ValidationError(errors)
    return specs


def lifecycle_dry_run(
    *, rules: list[RuleSpec] | None = None, replace: bool = False, as_of: dt.date | None = None
) -> EvaluationResult:
    """Who the rule set would move (as of a day, any day): the saved active rules, or posted ones on top of
    them (a posted rule with a saved id replaces it; `replace` uses the posted ones alone). Writes nothing."""
    if rules is None:
        specs = None
    elif replace:
        specs = rules
    else:
        posted = {spec.id for spec in rules if spec.id is not None}
        specs = [r for r in rules_active() if r.id not in posted] + rules
    return lifecycle_evaluate(dry_run=True, rules=specs, as_of=as_of, announce=False)
