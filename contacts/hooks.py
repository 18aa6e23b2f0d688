"""Extension points of contact creation for apps above contacts (dependency inversion).

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
