"""Domain events of the loyalty programme, sent in the transaction that wrote them (receivers write outbox rows).

Plays and webhooks connect from their side.

`tier_changed`: change_ids=list[int] (TierChange rows, announced ones only);
`reward_redeemed`: redemption_ids=list[int]; `referral_converted`: referral_ids=list[int].
Only new and current facts are announced: never backfilled history, imports or replays.
"""

from django.dispatch import Signal

tier_changed = Signal()
reward_redeemed = Signal()
referral_converted = Signal()
