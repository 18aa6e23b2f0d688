"""Create the role groups with their model permissions.

Marketers read everything and change campaigns, segments and stage rules; sales reps
read contacts and log touchpoints (row-level ownership is enforced in selectors and
API permissions, not here). Admins are staff users and need no group.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_ALL = [
    ("contacts", "contact"),
    ("contacts", "touchpoint"),
    ("contacts", "tag"),
    ("stages", "stage"),
    ("stages", "stagerule"),
    ("stages", "stagetransition"),
    ("campaigns", "campaign"),
    ("campaigns", "segment"),
    ("campaigns", "campaignmember"),
    ("analytics", "contactmetrics"),
    ("analytics", "clvmodelfit"),
    ("analytics", "stagesnapshot"),
]
MARKETER_CHANGE = [
    ("campaigns", "campaign"),
    ("campaigns", "segment"),
    ("campaigns", "campaignmember"),
    ("stages", "stagerule"),
    ("contacts", "tag"),
]
REP_CHANGE = [("contacts", "contact"), ("contacts", "touchpoint")]


def _perms(Permission, models, actions):
    found = []
    for app_label, model in models:
        for action in actions:
            found.extend(Permission.objects.filter(content_type__app_label=app_label, codename=f"{action}_{model}"))
    return found


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so the
    # groups can be given them on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    marketers, _ = Group.objects.get_or_create(name="Marketers")
    marketers.permissions.set(
        _perms(Permission, VIEW_ALL, ["view"]) + _perms(Permission, MARKETER_CHANGE, ["add", "change", "delete"])
    )
    reps, _ = Group.objects.get_or_create(name="Sales reps")
    reps.permissions.set(_perms(Permission, VIEW_ALL, ["view"]) + _perms(Permission, REP_CHANGE, ["add", "change"]))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Marketers", "Sales reps"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0001_initial"),
        ("stages", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("analytics", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
