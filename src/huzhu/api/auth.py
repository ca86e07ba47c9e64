"""Tokens: `POST /auth/token` ({"username", "password"} → {"token"}), revoke, who am I."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from huzhu.accounts.models import User
from huzhu.accounts.services import token_issue, token_revoke

router = Router(tags=["auth"])


class Credentials(Schema):
    # A username longer than any account's is refused here, before it is counted or stored.
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)


class TokenOut(Schema):
    token: str


class MeOut(Schema):
    username: str
    role: str
    org_code: str | None
    org_name: str | None
    member_id: int | None


@router.post("/token", auth=None, response={200: TokenOut})
def create_token(request: HttpRequest, body: Credentials) -> dict[str, str]:
    return {"token": token_issue(username=body.username, password=body.password, request=request)}


@router.delete("/token", response={204: None})
def revoke_token(request: HttpRequest) -> Status[None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token_revoke(header[7:].strip())
    return Status(204, None)


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, object]:
    user: User = request.user  # type: ignore[assignment]
    return {
        "username": user.username,
        "role": user.role,
        "org_code": user.org.code if user.org else None,
        "org_name": user.org.name if user.org else None,
        "member_id": user.member_id,
    }
