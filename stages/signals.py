"""Domain events of the lifecycle engine, sent after commit.

`stage_changed`: sender=StageTransition, transition_ids=list[int] — the rows written by
one engine chunk or one manual move. Receivers only enqueue tasks.
"""

from django.dispatch import Signal

stage_changed = Signal()
