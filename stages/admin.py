"""Django admin for stages, stage rules (validated, with a dry-run preview) and the read-only transition history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from contacts.models import Contact
from lifecycle_crm.admin_utils import ComputedAdmin, LargeTableAdminMixin
from stages.applying import rule_application_start
from stages.engine import lifecycle_evaluate
from stages.engine_rules import RuleSpec, rules_active
from stages.models import ApplicationStatus, RuleApplication, Stage, StageRule, StageSnapshot, StageTransition
from stages.rules import METRICS
from stages.services import stage_rule_conditions_clean

CONDITIONS_HELP = (
    'A JSON list of conditions, e.g. [{"metric": "purchases", "op": ">=", "value": 2, "params": {"days": 365}}]. '
    "Metrics: "
    + "; ".join(
        f"{m.name} ({m.value_type}; {' '.join(m.ops)}{'; params ' + ', '.join(m.params) if m.params else ''})"
        for m in METRICS.values()
    )
    + ". Kinds are touchpoint kinds such as email_open, quote_request, purchase."
)


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "category", "colour_swatch", "is_active")
    list_editable = ("is_active",)
    list_filter = ("category", "is_active")
    search_fields = ("name", "slug")
    ordering = ("position",)
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Colour")
    def colour_swatch(self, obj: Stage) -> str:
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;background:{};border-radius:2px"></span> {}',
            obj.colour,
            obj.colour,
        )


class StageRuleForm(forms.ModelForm):
    """Validates conditions against the metric registry (StageRule.clean) and shows the registry as help."""

    class Meta:
        model = StageRule
        fields = (
            "name",
            "stage",
            "match",
            "conditions",
            "from_stages",
            "priority",
            "is_win_back",
            "is_active",
            "description",
        )
        widgets = {"conditions": forms.Textarea(attrs={"rows": 6, "cols": 100, "style": "font-family: monospace"})}
        help_texts = {"conditions": CONDITIONS_HELP}

    def clean_conditions(self):
        # The same validation as the service, with its messages on this field.
        try:
            return stage_rule_conditions_clean(self.cleaned_data.get("conditions"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("conditions", exc.messages)) from None


@admin.register(StageRule)
class StageRuleAdmin(admin.ModelAdmin):
    form = StageRuleForm
    list_display = ("name", "stage", "match", "conditions_summary", "priority", "is_win_back", "is_active")
    list_filter = ("stage", "is_active", "is_win_back")
    list_select_related = ("stage",)
    search_fields = ("name", "description")
    filter_horizontal = ("from_stages",)
    change_form_template = "admin/stages/stagerule/change_form.html"

    @admin.display(description="Conditions")
    def conditions_summary(self, obj: StageRule) -> str:
        parts = []
        for c in obj.conditions or []:
            if not isinstance(c, dict):
                continue
            params = ", ".join(
                f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in (c.get("params") or {}).items()
            )
            parts.append(f"{c.get('metric')}{f'({params})' if params else ''} {c.get('op')} {c.get('value')}")
        return f" {obj.match.upper()} ".join(parts)

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="stages_stagerule_preview"),
            path(
                "applications/<int:application_id>/",
                self.admin_site.admin_view(self.application_view),
                name="stages_stagerule_application",
            ),
            *super().get_urls(),
        ]

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """After the rule and its from-stages are saved: apply the change to every contact in the background."""
        super().save_related(request, form, formsets, change)
        application = rule_application_start(rule=form.instance, user=request.user)
        url = reverse("admin:stages_stagerule_application", args=[application.pk])
        messages.info(
            request,
            format_html(
                'Re-evaluating every contact with this rule in the background: <a href="{}">progress, who moved</a>.',
                url,
            ),
        )

    def application_view(self, request: HttpRequest, application_id: int) -> HttpResponse:
        """Progress of a rule application and the contacts it moved (the page refreshes itself while it runs)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        application = RuleApplication.objects.filter(pk=application_id).select_related("rule").first()
        if application is None:
            messages.error(request, "That rule application does not exist.")
            return HttpResponseRedirect(reverse("admin:stages_stagerule_changelist"))
        movers = application.movers[:500]
        emails = dict(Contact.objects.filter(pk__in=[m["contact_id"] for m in movers]).values_list("pk", "email"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Applying {application.rule_name}",
            "application": application,
            "movers": [{**m, "email": emails.get(m["contact_id"], "")} for m in movers],
            "running": application.status in (ApplicationStatus.QUEUED, ApplicationStatus.RUNNING),
        }
        return TemplateResponse(request, "admin/stages/stagerule/application.html", context)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """Dry run of the rule set with the posted (unsaved) rule: how many contacts would move, and where to.

        Nothing is written: the engine runs with dry_run=True over every contact.
        """
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:stages_stagerule_changelist"))
        rule_pk = request.GET.get("rule") or None
        obj = self.get_object(request, rule_pk) if rule_pk else None
        if rule_pk and obj is None:
            messages.error(request, "That rule no longer exists.")
            return HttpResponseRedirect(reverse("admin:stages_stagerule_changelist"))
        allowed = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if not allowed:
            raise PermissionDenied
        form_class = self.get_form(request, obj)
        form = form_class(request.POST, instance=obj)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Preview stage rule (dry run)",
            "form": form,
            "original": obj,
        }
        if form.is_valid():
            candidate = form.save(commit=False)
            spec = RuleSpec(
                id=obj.pk if obj else None,
                name=f"{candidate.name} (this rule)",
                stage_id=candidate.stage_id,
                match=candidate.match,
                conditions=candidate.conditions,
                from_stage_ids=frozenset(s.pk for s in form.cleaned_data.get("from_stages") or []),
                priority=candidate.priority,
                is_win_back=candidate.is_win_back,
            )
            others = [r for r in rules_active() if obj is None or r.id != obj.pk]
            result = lifecycle_evaluate(dry_run=True, rules=[*others, spec] if candidate.is_active else others)
            context.update(
                result=result,
                movers=_movers_page(result.movers, limit=200),
                moves=sorted(result.moves.items(), key=lambda kv: -kv[1]),
                by_this_rule=result.moves_by_rule.get(spec.name, 0),
                by_other_rules=sorted(
                    ((name, n) for name, n in result.moves_by_rule.items() if name != spec.name), key=lambda kv: -kv[1]
                ),
                target=candidate.stage,
            )
        return TemplateResponse(request, "admin/stages/stagerule/preview.html", context)


def _movers_page(movers: list[tuple[int, str, str, str]], *, limit: int) -> list[dict]:
    """The first `limit` contacts a dry run would move, with their emails (one query)."""
    first = sorted(movers)[:limit]
    emails = dict(Contact.objects.filter(pk__in=[m[0] for m in first]).values_list("pk", "email"))
    return [{"contact_id": c, "email": emails.get(c, ""), "from": f, "to": t, "rule": r} for c, f, t, r in first]


@admin.register(RuleApplication)
class RuleApplicationAdmin(admin.ModelAdmin):
    """Background applications of saved rule changes: read-only, with progress."""

    list_display = ("rule_name", "status", "processed", "total", "moved", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("rule", "rule_name", "status", "total", "processed", "moved", "movers", "error", "created_by",
                       "created_at", "started_at", "finished_at")  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StageTransition)
class StageTransitionAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Append-only history: viewable and searchable, never added, edited or deleted here."""

    list_display = ("contact", "from_stage", "to_stage", "effective_at", "source", "rule", "is_win_back", "user")
    list_filter = ("source", "to_stage", "is_win_back")
    list_select_related = ("contact", "from_stage", "to_stage", "rule", "user")
    search_fields = ("contact__email", "note")
    date_hierarchy = "effective_at"
    raw_id_fields = ("contact", "touchpoint", "user", "rule")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StageSnapshot)
class StageSnapshotAdmin(ComputedAdmin):
    list_display = ("date", "stage", "contacts")
    list_select_related = ("stage",)
    list_filter = ("stage",)
    date_hierarchy = "date"
    raw_id_fields = ("stage",)
