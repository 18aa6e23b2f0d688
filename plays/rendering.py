"""Email rendering for plays and the signed unsubscribe token.

Templates are Django templates written by admins in the play's actions. The subject and
plain-text body are rendered without auto-escaping (they are not HTML); the HTML body is
auto-escaped so a contact's name can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.urls import reverse

UNSUBSCRIBE_SALT = "plays.unsubscribe"

# One engine with the project's builtins but no loaders: play templates cannot include files.
_ENGINE = Engine(
    libraries={},
    builtins=[
        "django.template.defaulttags",
        "django.template.defaultfilters",
        "django.contrib.humanize.templatetags.humanize",
    ],
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def template_validate(*, source: str, field: str) -> None:
    """Raise a ValidationError naming `field` when `source` is not a valid template, so admins see it on save."""
    try:
        _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError({field: f"Template error: {exc}"}) from None


def render_text(*, source: str, context: dict[str, Any]) -> str:
    """Render a plain-text template (no HTML escaping)."""
    return _ENGINE.from_string(source).render(Context(context, autoescape=False))


def render_html(*, source: str, context: dict[str, Any]) -> str:
    """Render an HTML template with auto-escaping on."""
    return _ENGINE.from_string(source).render(Context(context, autoescape=True))


def unsubscribe_token(*, contact_id: int) -> str:
    """A signed, URL-safe token naming the contact; the same for every email and never expiring (old emails must keep
    working), so it carries no timestamp."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"c": contact_id}, compress=True)


def unsubscribe_contact_id(*, token: str) -> int | None:
    """The contact id in a valid token, or None when the token was tampered with or is malformed."""
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    value = data.get("c") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def unsubscribe_url(*, contact_id: int) -> str:
    """The absolute unsubscribe link placed in every play email (CRM_BASE_URL + the signed token)."""
    base = getattr(settings, "CRM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    return base + reverse("web:plays:unsubscribe", kwargs={"token": unsubscribe_token(contact_id=contact_id)})


def email_context(*, contact: Any, play: Any) -> dict[str, Any]:
    """The variables an email template sees: the contact, its stage, its metrics (or None) and the unsubscribe link."""
    try:
        metrics = contact.metrics
    except Exception:  # RelatedObjectDoesNotExist: no metrics computed yet
        metrics = None
    return {
        "contact": contact,
        "stage": contact.stage,
        "metrics": metrics,
        "play": play,
        "owner": contact.owner,
        "unsubscribe_url": unsubscribe_url(contact_id=contact.pk),
        "currency": getattr(settings, "CRM_CURRENCY", "USD"),
    }


def email_render(*, action: Any, contact: Any, play: Any) -> RenderedEmail:
    """Render subject, plain text and HTML of a send_email action for one contact."""
    context = email_context(contact=contact, play=play)
    subject = " ".join(render_text(source=action.subject, context=context).split())
    text = render_text(source=action.body_text, context=context)
    if "unsubscribe_url" not in action.body_text:
        text = f"{text.rstrip()}\n\n--\nUnsubscribe: {context['unsubscribe_url']}\n"
    html = ""
    if action.body_html:
        html = render_html(source=action.body_html, context=context)
        if "unsubscribe_url" not in action.body_html:
            html += (
                f'<p style="font-size:12px;color:#64748b"><a href="{context["unsubscribe_url"]}">Unsubscribe</a></p>'
            )
    return RenderedEmail(subject=subject, text=text, html=html)
