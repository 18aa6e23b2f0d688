"""Domain events of the lifecycle engine, sent inside the transaction that wrote them.

`stage_changed`: sender=StageTransition, transition_ids=list[int] — the rows written by
one engine chunk or one manual move. Receivers only enqueue tasks (outbox rows in that transaction).
"""

from django.dispatch import Signal

stage_changed = Signal()

# sender=RuleApplication, application_id=int: a saved rule change is queued for every contact (issue 17);
# its receiver (stages.receivers) enqueues the background run.
rule_application_queued = Signal()

# sender=StageSnapshot, report="stage_counts": stored daily counts were restated by later history (issue 17);
# analytics drops the results computed from the old counts (the result layer's one invalidation rule).
snapshots_restated = Signal()
