"""Django admin for stages, stage rules (validated, with a dry-run preview) and the read-only transition history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from lifecycle_crm.admin_utils import ComputedAdmin, LargeTableAdminMixin
from stages.engine import lifecycle_evaluate
from stages.engine_rules import RuleSpec, rules_active
from stages.models import Stage, StageRule, StageSnapshot, StageTransition
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
            *super().get_urls(),
        ]

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
                moves=sorted(result.moves.items(), key=lambda kv: -kv[1]),
                by_this_rule=result.moves_by_rule.get(spec.name, 0),
                by_other_rules=sorted(
                    ((name, n) for name, n in result.moves_by_rule.items() if name != spec.name), key=lambda kv: -kv[1]
                ),
                target=candidate.stage,
            )
        return TemplateResponse(request, "admin/stages/stagerule/preview.html", context)


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
