"""The Django admin of organisations, members and cards: scoped to the user's subtree and
audited (audit.admin_scope); names and ID numbers pass the same validators as the API and the
importers (core.names, core.idnumber)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from huzhu.audit.admin_scope import SubtreeAdmin
from huzhu.core import idnumber, names
from huzhu.core.pii import mask_id_number, vault
from huzhu.members.models import Card, Member, Organisation


def _clean_name(value: str) -> str:
    if (invalid := names.name_invalid(value)) is not None:
        raise forms.ValidationError(invalid.message, code="invalid_name")
    return value.strip()


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ("code", "name", "kind", "parent")

    def clean_name(self) -> str:
        return _clean_name(self.cleaned_data["name"])


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ("name", "unit", "joined_on", "is_active")

    def clean_name(self) -> str:
        return _clean_name(self.cleaned_data["name"])


class MemberAddForm(MemberForm):
    """A new member is added by its ID number, checked, stored encrypted and hashed as
    members.services stores it; the number cannot be changed afterwards."""

    id_number = forms.CharField(label=_("身份证号"), max_length=64)

    def clean_id_number(self) -> str:
        if (invalid := idnumber.id_number_invalid(self.cleaned_data["id_number"])) is not None:
            raise forms.ValidationError(invalid.message, code="invalid_id_number")
        number = idnumber.normalize(self.cleaned_data["id_number"])
        if Member.objects.filter(id_hash=vault().lookup_hash(number)).exists():
            raise forms.ValidationError(_("已有这个身份证号的会员"), code="duplicate_id_number")
        return number

    def save(self, commit: bool = True) -> Any:
        member = super().save(commit=False)
        number = self.cleaned_data["id_number"]
        v = vault()
        member.id_hash = v.lookup_hash(number)
        member.id_cipher = v.encrypt(number)
        member.id_masked = mask_id_number(number)
        member.birth_date = idnumber.birth_date(number)
        if commit:
            member.save()
        return member


@admin.register(Organisation)
class OrganisationAdmin(SubtreeAdmin):
    form = OrganisationForm
    list_display = ("code", "name", "kind", "parent")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    readonly_fields = ("path", "depth")
    org_path_field = "path"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Moving an organisation rewrites the paths of its whole subtree: that is
        # members.services.org_update (PATCH /api/v1/orgs/{code}), not a form field.
        return (
            (*self.readonly_fields, "parent", "kind") if obj is not None else self.readonly_fields
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new organisation gets its materialised path, as org_insert gives it; without one it
        # would be outside every subtree.
        obj.save()
        parent = obj.parent
        obj.path = (parent.path if parent else "/") + f"{obj.pk}/"
        obj.depth = parent.depth + 1 if parent else 0
        obj.save(update_fields=["path", "depth"])


class CardInline(admin.TabularInline):  # type: ignore[type-arg,unused-ignore]
    model = Card
    fk_name = "member"
    extra = 0
    readonly_fields = ("card_no", "status", "issued_at", "ended_at", "replaces")
    can_delete = False


@admin.register(Member)
class MemberAdmin(SubtreeAdmin):
    form = MemberForm
    list_display = ("name", "id_masked", "phone_masked", "unit", "joined_on", "is_active")
    search_fields = ("name",)
    readonly_fields = ("id_masked", "phone_masked", "birth_date")
    exclude = ("id_hash", "id_cipher", "phone_cipher")
    raw_id_fields = ("unit",)
    inlines = (CardInline,)
    org_path_field = "unit__path"

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = MemberAddForm
        return super().get_form(request, obj, change=change, **kwargs)


@admin.register(Card)
class CardAdmin(SubtreeAdmin):
    list_display = ("card_no", "member", "status", "issued_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("card_no",)
    raw_id_fields = ("member", "replaces")
    org_path_field = "member__unit__path"
