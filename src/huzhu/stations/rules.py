"""Pure rules of warm stations: the service catalogue as a bit mask, and the signed content of
a station's visit QR code. No ORM, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from django.utils.translation import gettext as _

# Order is storage: bit i of `Station.services` is SERVICES[i]. Append only.
SERVICES = ("rest", "hot_water", "wifi", "charging", "microwave", "first_aid", "toilet")

# What people write in files (Chinese first), folded to lower case without spaces.
_ALIASES = {
    "rest": ("休息", "临时休息", "歇脚", "休息区"),
    "hot_water": ("热水", "免费热水", "饮水", "开水", "hotwater"),
    "wifi": ("wi-fi", "免费wifi", "免费wi-fi", "无线网络", "无线网"),
    "charging": ("充电", "手机充电", "charge", "phone_charging"),
    "microwave": ("微波炉", "热饭", "加热"),
    "first_aid": ("急救", "急救药箱", "药箱", "医药箱", "firstaid"),
    "toilet": ("卫生间", "厕所", "如厕", "洗手间", "wc"),
}
_LOOKUP = {name: name for name in SERVICES}
for _name, _words in _ALIASES.items():
    for _word in _words:
        _LOOKUP[_word.casefold()] = _name

QR_PREFIX = "HZST"


def service_bit(name: str) -> int:
    return 1 << SERVICES.index(name)


def services_mask(names: Iterable[str]) -> int:
    """Bit mask of service codes; ValueError naming the first unknown one."""
    mask = 0
    for name in names:
        code = _LOOKUP.get(re.sub(r"\s+", "", name).casefold())
        if code is None:
            raise ValueError(
                _("未知的服务项目 %(name)s（可用 %(all)s）")
                % {"name": repr(name), "all": ", ".join(SERVICES)}
            )
        mask |= service_bit(code)
    return mask


def parse_services(text: str) -> int:
    """`热水、充电, wifi` → mask. Separators: , ， 、 ; ； / and spaces."""
    parts = [p for p in re.split(r"[,，、;；/|\s]+", text.strip()) if p]
    return services_mask(parts)


def services_of(mask: int) -> list[str]:
    return [name for i, name in enumerate(SERVICES) if mask & (1 << i)]


_DEGREES_RE = re.compile(r"^[+-]?[0-9]{1,3}(?:\.[0-9]{1,12})?$")


def parse_position(text: str) -> tuple[float, float]:
    """A point as map pickers give it, longitude first: `116.397428,39.90923` (高德坐标拾取器)
    → (lat, lng). ValueError saying what is wrong, and when the two look swapped."""
    parts = [p for p in re.split(r"[,，;；\s]+", text.strip()) if p]
    example = _("请按“经度,纬度”填写坐标，如 116.397428,39.90923")
    if len(parts) != 2 or not all(_DEGREES_RE.match(p) for p in parts):
        raise ValueError(example)
    lng, lat = float(parts[0]), float(parts[1])
    if abs(lat) > 90 and abs(lng) <= 90:
        raise ValueError(_("纬度超出范围：经度在前、纬度在后，如 116.397428,39.90923"))
    if abs(lat) > 90 or abs(lng) > 180:
        raise ValueError(_("经度应在 -180 至 180 之间，纬度在 -90 至 90 之间"))
    return lat, lng


def position_text(lat: float, lng: float) -> str:
    """The point as `parse_position` reads it, to six places (about 0.1 m)."""
    return f"{lng:.6f},{lat:.6f}"


def _signature(station_code: str, version: int, key: bytes) -> str:
    digest = hmac.new(key, f"{station_code}:{version}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().rstrip("=")


def visit_qr_content(station_code: str, version: int, key: bytes) -> str:
    """What a station's poster QR encodes. Signed, so visits can only be counted with a code
    printed by the federation; bumping `version` retires a leaked poster."""
    return f"{QR_PREFIX}:{station_code}:{version}:{_signature(station_code, version, key)}"


def parse_visit_qr(content: str, key: bytes) -> tuple[str, int] | None:
    """(station code, version) of a genuine code, else None."""
    parts = content.strip().split(":")
    if len(parts) != 4 or parts[0] != QR_PREFIX or not parts[2].isdigit():
        return None
    code, version, signature = parts[1], int(parts[2]), parts[3]
    if not hmac.compare_digest(signature, _signature(code, version, key)):
        return None
    return code, version
