"""Domain events announced by the contact services inside the transaction that wrote them.

Receivers (stages, webhooks, plays) only enqueue their own Celery tasks, as outbox rows
(outbox.services) committed with the data; no domain logic runs inside a receiver. Each signal
carries ids, never model instances, so a receiver can hand them straight to a task.
"""

from django.dispatch import Signal

# sender=Contact, contact_ids=list[int]
contacts_created = Signal()
# sender=Touchpoint, touchpoint_ids=list[int], contact_ids=list[int] (the touched contacts)
touchpoints_created = Signal()
# sender=Touchpoint, touchpoint_ids=list[int], contact_ids=list[int]: sent in the request's transaction;
# its one receiver (contacts.receivers) enqueues touchpoints_created_task (an outbox row), which sends
# touchpoints_created in a worker. One publish per write instead of one per consumer.
touchpoints_stored = Signal()
# sender=Touchpoint, contact_ids=list[int] — touchpoints edited, deleted or restored by hand (stages re-evaluate)
touchpoints_changed = Signal()
# sender=ImportJob, job_id=int — a CSV import started in the app finished (done or failed)
import_finished = Signal()
