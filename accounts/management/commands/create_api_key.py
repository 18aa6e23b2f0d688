"""`manage.py create_api_key NAME --role ROLE [--user USERNAME] [--expires-days N]`: the key alone on the last line."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.roles import Role
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it (alone, on the last line). The key is stored hashed: save it now."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'web shop'.")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--user", help="Username the key acts for (required for --role sales_rep).")
        parser.add_argument("--expires-days", type=int, help="Expire after this many days (default: never).")

    def handle(self, *args, name, role, user=None, expires_days=None, **options):
        account = None
        if user:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"No user named {user!r}.")
        expires_at = None
        if expires_days is not None:
            if expires_days <= 0:
                raise CommandError("--expires-days must be positive.")
            expires_at = timezone.now() + dt.timedelta(days=expires_days)
        try:
            key, raw_key = api_key_create(name=name, role=role, user=account, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Created API key {key.name!r} (role {key.role}, prefix {key.prefix}). Store it now:")
        self.stdout.write(raw_key)
