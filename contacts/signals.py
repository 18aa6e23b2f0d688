"""Domain events announced by the contact services after their transaction commits.

Receivers (stages, webhooks, plays) only enqueue their own Celery tasks; no domain logic runs
inside a receiver. Each signal carries ids, never model instances, so a receiver can
hand them straight to a task.
"""

from django.dispatch import Signal

# sender=Contact, contact_ids=list[int]
contacts_created = Signal()
# sender=Touchpoint, touchpoint_ids=list[int], contact_ids=list[int] (the touched contacts)
touchpoints_created = Signal()
# sender=Touchpoint, touchpoint_ids=list[int], contact_ids=list[int]: sent in the request after commit;
# its one receiver (contacts.receivers) publishes touchpoints_created_task, which sends
# touchpoints_created in a worker. One publish per write instead of one per consumer.
touchpoints_stored = Signal()
