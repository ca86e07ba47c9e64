"""Opening hours of a station: a weekly schedule with dated exceptions, in Beijing time.

The text format, used alike by files, the API and the admin (close to OpenStreetMap's):

    weekly      Mo-Fr 08:30-17:30; Sa,Su 09:00-12:00,14:00-17:00
                24/7                      (every day, all day)
                周一至周五 08:00-20:00; 周六 off
    exceptions  2026-01-01 off; 2026-02-16..2026-02-22 10:00-14:00

Rules of the weekly text: `days spans`, separated by `;`. Days are Mo Tu We Th Fr Sa Su (or
周一…周日), as lists (`Mo,We`) and ranges (`Mo-Fr`, `Fr-Mo` wraps); no days means every day. A
later rule replaces earlier ones for the days it names; days never named are closed. `off`
(or closed, 休息, 关闭) closes the named days.

A span `HH:MM-HH:MM` includes its start and excludes its end. An end at or before the start
means the span runs past midnight (`22:00-06:00`); it belongs to the day it starts on. So an
exception replaces the spans that *start* on its dates: a Friday night shift still ends on
Saturday morning when Saturday is closed, and closing Friday also cancels that night.

Exceptions name a date or an inclusive range (`..`) and replace those dates' spans; a later
exception wins over an earlier one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.core import bounds

BEIJING = ZoneInfo("Asia/Shanghai")
DAY_MINUTES = 24 * 60
DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_INDEX = {d.casefold(): i for i, d in enumerate(DAYS)}
_ZH_DAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
for _ch, _i in _ZH_DAYS.items():
    for _prefix in ("周", "星期", "礼拜"):
        _DAY_INDEX[_prefix + _ch] = _i
OFF_WORDS = frozenset({"off", "closed", "休息", "关闭", "不开放", "闭馆"})
ALL_WEEK = "24/7"
MAX_WEEKLY_TEXT = 500  # the stored column's length (Station.hours)

# ASCII digits ([0-9]): `\d` would read every script's digits as a time or a date.
_TIME_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_DATE_RANGE_RE = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:\s*(?:\.\.|~|～|至)\s*([0-9]{4}-[0-9]{2}-[0-9]{2}))?\s+(.+)$"
)


@dataclass(frozen=True, order=True)
class Span:
    """Open from `start` to `end`, in minutes after midnight. `end <= start` ends the next day."""

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


Spans = tuple[Span, ...]


@dataclass(frozen=True)
class DateRule:
    """The spans of every date from `first` to `last` (inclusive); none means closed."""

    first: date
    last: date
    spans: Spans

    def __str__(self) -> str:
        when = self.first.isoformat()
        if self.last != self.first:
            when += f"..{self.last.isoformat()}"
        return f"{when} {_spans_text(self.spans)}"


@dataclass(frozen=True)
class OpeningHours:
    week: tuple[Spans, Spans, Spans, Spans, Spans, Spans, Spans]  # Monday first
    exceptions: tuple[DateRule, ...] = ()

    def spans_on(self, day: date) -> Spans:
        """The spans that start on `day`: the last exception naming it, else its weekday's."""
        for rule in reversed(self.exceptions):
            if rule.first <= day <= rule.last:
                return rule.spans
        return self.week[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        """Open at the aware instant `at` (read in Beijing time)?"""
        if at.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        local = at.astimezone(BEIJING)
        day = local.date()
        second = local.hour * 3600 + local.minute * 60 + local.second
        for span in self.spans_on(day):
            if span.start * 60 <= second and (span.overnight or second < span.end * 60):
                return True
        return any(
            span.overnight and second < span.end * 60
            for span in self.spans_on(day - timedelta(days=1))
        )

    @property
    def weekly_text(self) -> str:
        return format_week(self.week)

    @property
    def exceptions_text(self) -> str:
        return "; ".join(str(rule) for rule in self.exceptions)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _spans_text(spans: Spans) -> str:
    return ",".join(str(s) for s in spans) if spans else "off"


def _normalise(text: str) -> str:
    for wide, narrow in (
        ("；", ";"),
        ("，", ","),
        ("：", ":"),
        ("、", ","),
        ("－", "-"),
        ("–", "-"),
        ("—", "-"),
        ("～", "-"),
        ("~", "-"),
        ("至", "-"),
        ("到", "-"),
    ):
        text = text.replace(wide, narrow)
    text = re.sub(r"\s*([-,])\s*", r"\1", text.strip())
    return re.sub(r"\s+", " ", text)


def _minutes(text: str, *, is_end: bool) -> int:
    m = _TIME_RE.match(text)
    if not m:
        raise ValueError(_("不是时间（HH:MM）：%(text)s") % {"text": text})
    hours, minutes = int(m.group(1)), int(m.group(2))
    value = hours * 60 + minutes
    if minutes > 59 or value > DAY_MINUTES or (value == DAY_MINUTES and not is_end):
        raise ValueError(_("不是一天中的时间：%(text)s") % {"text": text})
    return value


def parse_spans(text: str) -> Spans:
    """`off` or `HH:MM-HH:MM[,HH:MM-HH:MM…]`, sorted and without repeats."""
    if text.casefold() in OFF_WORDS:
        return ()
    spans: set[Span] = set()
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) != 2:
            raise ValueError(_("不是时间段（HH:MM-HH:MM）：%(part)s") % {"part": part})
        start = _minutes(bounds[0], is_end=False)
        end = _minutes(bounds[1], is_end=True)
        if end == 0:
            end = DAY_MINUTES  # 22:00-00:00 closes at midnight
        if end == start:
            raise ValueError(_("时间段的开始和结束不能相同：%(part)s") % {"part": part})
        spans.add(Span(start, end))
    return tuple(sorted(spans))


def _day(token: str) -> int:
    index = _DAY_INDEX.get(token.casefold())
    if index is None:
        raise ValueError(_("不是星期几（Mo…Su 或 周一…周日）：%(token)s") % {"token": token})
    return index


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first), _day(last)
            days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.append(_day(part))
    return days


def parse_week(text: str) -> tuple[Spans, Spans, Spans, Spans, Spans, Spans, Spans]:
    text = _normalise(text)
    if not text:
        raise ValueError(_("请填写开放时间（如 Mo-Fr 08:00-18:00 或 24/7）"))
    if text == ALL_WEEK:
        return ((Span(0, DAY_MINUTES),),) * 7
    week: list[Spans] = [()] * 7
    for rule in filter(None, (r.strip() for r in text.split(";"))):
        head, _sep, rest = rule.partition(" ")
        if rest:
            days, spans = _parse_days(head), parse_spans(rest.replace(" ", ""))
        elif head == ALL_WEEK:
            days, spans = list(range(7)), (Span(0, DAY_MINUTES),)
        else:
            days, spans = list(range(7)), parse_spans(head)
        for d in days:
            week[d] = spans
    result = (week[0], week[1], week[2], week[3], week[4], week[5], week[6])
    if len(format_week(result)) > MAX_WEEKLY_TEXT:
        raise ValueError(_("开放时间写出来最多 %(max)s 个字符") % {"max": MAX_WEEKLY_TEXT})
    return result


def parse_exceptions(text: str) -> tuple[DateRule, ...]:
    rules: list[DateRule] = []
    for part in text.replace("；", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        m = _DATE_RANGE_RE.match(part)
        if not m:
            raise ValueError(
                _("不是例外日期（YYYY-MM-DD[..YYYY-MM-DD] HH:MM-HH:MM|off）：%(part)s")
                % {"part": part}
            )
        try:
            first = date.fromisoformat(m.group(1))
            last = date.fromisoformat(m.group(2)) if m.group(2) else first
        except ValueError:
            raise ValueError(_("不是日期：%(part)s") % {"part": part}) from None
        if any(not bounds.MIN_DATE <= day <= bounds.MAX_DATE for day in (first, last)):
            raise ValueError(
                _("日期应在 %(min)s 至 %(max)s 之间：%(part)s")
                % {"min": bounds.MIN_DATE, "max": bounds.MAX_DATE, "part": part}
            )
        if last < first:
            raise ValueError(_("日期范围的结束早于开始：%(part)s") % {"part": part})
        rules.append(DateRule(first, last, parse_spans(_normalise(m.group(3)).replace(" ", ""))))
    return tuple(rules)


@lru_cache(maxsize=4096)
def parse_hours(weekly: str, exceptions: str = "") -> OpeningHours:
    """Parse both texts (ValueError with a reason when either is malformed). Cached: stations
    share a handful of schedules, and the nearest query evaluates many."""
    return OpeningHours(parse_week(weekly), parse_exceptions(exceptions))


def format_week(week: tuple[Spans, ...]) -> str:
    """The canonical text: days with the same spans grouped into runs, closed days left out."""
    if all(spans == (Span(0, DAY_MINUTES),) for spans in week):
        return ALL_WEEK
    groups: dict[Spans, list[int]] = {}
    for index, spans in enumerate(week):
        if spans:
            groups.setdefault(spans, []).append(index)
    if not groups:
        return "off"
    return "; ".join(f"{_days_text(days)} {_spans_text(spans)}" for spans, days in groups.items())


def _runs(days: list[int]) -> list[list[int]]:
    """Weekday numbers grouped into runs of consecutive days."""
    runs: list[list[int]] = []
    for d in days:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _days_text(days: list[int]) -> str:
    parts = []
    for run in _runs(days):
        if len(run) >= 3:
            parts.append(f"{DAYS[run[0]]}-{DAYS[run[-1]]}")
        else:
            parts.extend(DAYS[d] for d in run)
    return ",".join(parts)


# -- day by day, for a form ----------------------------------------------------------------------

ROW_SPANS = 2  # the spans a weekday row of the console's form holds


class DayState:
    OPEN = "open"  # open in the row's spans
    ALL_DAY = "allday"
    OFF = "off"


@dataclass(frozen=True)
class DayRow:
    """One weekday as the console's form edits it: closed, open all day, or open in up to
    ROW_SPANS spans given as ("HH:MM", "HH:MM"); an end at or before the start is the next day."""

    state: str
    spans: tuple[tuple[str, str], ...] = ()


def week_rows(weekly: str) -> list[DayRow] | None:
    """The seven weekdays of `weekly` as rows, Monday first; None when a day has more spans
    than a row holds (the form then edits the text itself)."""
    rows = []
    for spans in parse_week(weekly):
        if not spans:
            rows.append(DayRow(DayState.OFF))
        elif spans == (Span(0, DAY_MINUTES),):
            rows.append(DayRow(DayState.ALL_DAY))
        elif len(spans) > ROW_SPANS:
            return None
        else:
            pairs = tuple((_hhmm(s.start), _hhmm(s.end % DAY_MINUTES)) for s in spans)
            rows.append(DayRow(DayState.OPEN, pairs))
    return rows


def weekly_text_of(rows: list[DayRow]) -> str:
    """The canonical weekly text of seven rows, Monday first (ValueError naming the weekday when
    a row is incomplete or a time is wrong)."""
    if len(rows) != len(DAYS):
        raise ValueError(_("开放时间要逐日填写周一至周日"))
    week: list[Spans] = []
    for index, row in enumerate(rows):
        day = day_names()[index]
        if row.state == DayState.OFF:
            week.append(())
        elif row.state == DayState.ALL_DAY:
            week.append((Span(0, DAY_MINUTES),))
        elif row.state == DayState.OPEN:
            filled = [f"{start.strip()}-{end.strip()}" for start, end in row.spans if start or end]
            if not filled:
                raise ValueError(_("%(day)s：请填写开放时段，或选择休息") % {"day": day})
            try:
                week.append(parse_spans(",".join(filled)))
            except ValueError as exc:
                raise ValueError(f"{day}：{exc}") from None
        else:
            raise ValueError(_("%(day)s：请选择开放、全天开放或休息") % {"day": day})
    return format_week((week[0], week[1], week[2], week[3], week[4], week[5], week[6]))


# -- in words, for people ----------------------------------------------------------------------


def day_names() -> tuple[str, ...]:
    """Monday to Sunday in words, in the active language."""
    return (_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日"))


def _span_words(span: Span) -> str:
    end = _hhmm(span.end % DAY_MINUTES if span.end != DAY_MINUTES else DAY_MINUTES)
    if span.overnight:
        end = _("次日%(time)s") % {"time": end}
    return f"{_hhmm(span.start)}–{end}"


def _spans_words(spans: Spans) -> str:
    if not spans:
        return pgettext("开放时间", "休息")
    if spans == (Span(0, DAY_MINUTES),):
        return _("全天")
    return _("、").join(_span_words(s) for s in spans)


def _days_words(days: list[int]) -> str:
    names = day_names()
    parts = []
    for run in _runs(days):
        if len(run) >= 3:
            first, last = names[run[0]], names[run[-1]]
            parts.append(_("%(first)s至%(last)s") % {"first": first, "last": last})
        else:
            parts.extend(names[d] for d in run)
    return _("、").join(parts)


def hours_in_words(hours: OpeningHours) -> str:
    """The opening hours as a person reads them, in the active language: 周一至周四、周日
    07:00–23:00；周五、周六 07:00–次日02:00 (全天开放 when always open; the dated exceptions
    after the week)."""
    if all(spans == (Span(0, DAY_MINUTES),) for spans in hours.week):
        week = _("全天开放")
    else:
        groups: dict[Spans, list[int]] = {}
        for index, spans in enumerate(hours.week):
            if spans:
                groups.setdefault(spans, []).append(index)
        week = (
            _("；").join(f"{_days_words(d)} {_spans_words(s)}" for s, d in groups.items())
            if groups
            else _("暂停开放")
        )
    dated = [
        (
            rule.first.isoformat()
            if rule.last == rule.first
            else _("%(first)s至%(last)s")
            % {"first": rule.first.isoformat(), "last": rule.last.isoformat()}
        )
        + " "
        + _spans_words(rule.spans)
        for rule in hours.exceptions
    ]
    return _("；").join([week, *dated])


def distance_in_words(metres: float) -> str:
    """A distance as a person reads it: metres below 1 km, kilometres with one decimal above."""
    if metres < 1000:
        return _("%(n)s 米") % {"n": round(metres)}
    return _("%(n)s 公里") % {"n": f"{metres / 1000:.1f}"}
