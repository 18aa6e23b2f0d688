"""Writes of the play editor: save a play with its ordered actions in one transaction, checked like the admin does.

Why a module of its own: the editor saves a play and several actions together and must leave nothing
half-written when one of them is refused; the running of plays (plays.services) never changes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction

from plays import rendering
from plays.models import Play, PlayAction
from plays.services import play_action_validate, play_validate


@transaction.atomic
def play_save(*, play: Play, actions: Sequence[PlayAction], deleted: Sequence[PlayAction] = ()) -> Play:
    """Validate and store a play and its actions (positions in the given order); raises ValidationError."""
    play_validate(play=play)
    play.full_clean(exclude=["scanned_until"])
    play.save()
    for action in deleted:
        if action.pk:
            action.delete()
    for position, action in enumerate(actions):
        action.play = play
        action.position = position
        play_action_validate(action=action)
        action.save()
    return play


def play_email_preview(*, subject: str, body_text: str, body_html: str, contact: Any, play: Play | None) -> dict:
    """An email action rendered on a real contact (nothing stored or sent); template errors as plain messages."""
    action = PlayAction(action_type="send_email", subject=subject, body_text=body_text, body_html=body_html)
    errors: dict[str, str] = {}
    for name in ("subject", "body_text", "body_html"):
        try:
            rendering.template_validate(source=getattr(action, name), field=name)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        return {"ok": False, "errors": errors}
    rendered = rendering.email_render(action=action, contact=contact, play=play or Play(name="Preview"))
    return {"ok": True, "subject": rendered.subject, "text": rendered.text, "html": rendered.html}


def play_email_test_send(*, action: PlayAction, contact: Any, to: str) -> None:
    """Send one email action, rendered on `contact`, to the editor themself (no run, no log, no consent needed)."""
    if not to:
        raise ValidationError("Your account has no email address to send the test to.")
    rendered = rendering.email_render(action=action, contact=contact, play=action.play)
    send_mail(
        subject=f"[Test] {rendered.subject}",
        message=rendered.text,
        from_email=None,
        recipient_list=[to],
        html_message=rendered.html or None,
    )
