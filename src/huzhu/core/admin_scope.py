"""Django admin scoped like the API: a back-office user sees its organisation's subtree only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest


class SubtreeAdmin(admin.ModelAdmin):  # type: ignore[type-arg,unused-ignore]
    """`org_path_field` names the lookup of the organisation path to filter on."""

    org_path_field = "path"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        user: Any = request.user
        org = getattr(user, "org", None)
        if org is None:
            return qs.none()
        return qs.filter(**{f"{self.org_path_field}__startswith": org.path})
