"""Issue 19 finding 9: webhook targets are judged on the resolved address, embedded IPv4 forms included."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from webhooks.services import webhook_url_clean
from webhooks.targets import address_is_public

PRIVATE_TARGETS = [
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated (SIIT)
    "http://[64:ff9b::7f00:1]/",  # NAT64 well-known prefix
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 to the cloud metadata address 169.254.169.254
    "http://[64:ff9b:1::a00:1]/",  # NAT64 local-use prefix
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[2001:db8::5efe:a00:1]/",  # ISATAP of 10.0.0.1
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://127.0.0.1/",
    "http://10.1.2.3/",
    "http://169.254.169.254/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://localhost/",
]


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize("url", PRIVATE_TARGETS)
def test_private_targets_in_every_embedded_form_are_refused(url):
    with pytest.raises(ValidationError) as refused:
        webhook_url_clean(url)
    assert "private" in str(refused.value) or "loopback" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
def test_public_addresses_in_embedded_forms_pass(address):
    assert address_is_public(address)


@pytest.mark.parametrize("address", ["224.0.0.1", "ff02::1", "ff0e::1", "not an address", "fe80::1%eth0"])
def test_multicast_and_junk_are_not_public(address):
    assert not address_is_public(address)


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True)
def test_the_allow_list_setting_still_lets_tests_deliver_to_loopback():
    assert webhook_url_clean("http://127.0.0.1:8123/hook") == "http://127.0.0.1:8123/hook"
