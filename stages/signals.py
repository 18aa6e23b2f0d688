"""Domain events of the lifecycle engine, sent inside the transaction that wrote them.

`stage_changed`: sender=StageTransition, transition_ids=list[int] — the rows written by
one engine chunk or one manual move. Receivers only enqueue tasks (outbox rows in that transaction).
"""

from django.dispatch import Signal

stage_changed = Signal()
