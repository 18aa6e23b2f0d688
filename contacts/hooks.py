"""Extension points of contact creation and merging for apps above contacts (dependency inversion).

An app registers, from its AppConfig.ready, an extra input of contact creation — e.g. loyalty's
`referral_code` — with a function `apply(*, contact, value)` that contact_create calls inside
its transaction once the contact exists. `apply` raises ValidationError keyed by the input's
name to refuse the creation: the whole contact is then rolled back, nothing half-written.
contacts never imports the registering app.
"""

from __future__ import annotations

from collections.abc import Callable

CreateInput = Callable[..., None]
CREATE_INPUTS: dict[str, CreateInput] = {}


def contact_create_input_register(name: str, apply: CreateInput) -> None:
    """Accept `name` in contact_create's data and call `apply(contact=…, value=…)` when it has a value."""
    CREATE_INPUTS[name] = apply


MergeHandler = Callable[..., dict[str, int]]
MERGE_HANDLERS: dict[str, MergeHandler] = {}


def contact_merge_handler_register(name: str, handler: MergeHandler) -> None:
    """Call `handler(survivor=…, other=…)` in contact_merge before the generic re-pointing of related rows.

    For rows that cannot simply be re-pointed (one per contact and programme, say): the handler
    folds them into the survivor's and returns counts for the merge log.
    """
    MERGE_HANDLERS[name] = handler
