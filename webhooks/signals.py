"""Events inside the webhooks app, so its services never import its tasks (which import the services).

`deliveries_due`: sender=WebhookDelivery, delivery_ids=list[int] — deliveries to attempt now; sent
in the transaction that stored them. webhooks.receivers enqueues one delivery task each (an outbox row).
"""

from django.dispatch import Signal

deliveries_due = Signal()
