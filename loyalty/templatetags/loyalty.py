"""Template tags of loyalty: the contact page's panel reads its data here, so the contacts app never imports loyalty."""

from django import template

from loyalty.selectors import ContactLoyalty, contact_loyalty

register = template.Library()


@register.simple_tag
def contact_loyalty_summary(contact_id: int) -> ContactLoyalty:
    """The loyalty summary of a contact (loyalty.selectors.contact_loyalty) for the contact page's loyalty panel."""
    return contact_loyalty(contact_id=contact_id)
