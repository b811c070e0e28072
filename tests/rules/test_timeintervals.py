"""Alertmanager time intervals: the cases of prometheus/alertmanager ``timeinterval/timeinterval_test.go``
at tag v0.27.0 (times there in Go's RFC822Z, ``02 Jan 06 15:04 -0700``; error texts are Go's, which
runbookd's messages start with or contain), then semantics of ``timeinterval.go`` v0.27.0 that the Go
tests do not cover (empty lists, null fields, ``location``), then US market hours across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.rules.timeintervals import TimeInterval, TimeRange
from receiver.rules.yamlpos import describe, format_path, parse_yaml


def at(text: str) -> float:
    """Epoch seconds of an RFC822Z time as Alertmanager's tests write it."""
    return datetime.strptime(text, "%d %b %y %H:%M %z").timestamp()


def utc(text: str) -> float:
    """Epoch seconds of an ISO 8601 UTC time (``2026-01-05T14:30``)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def range_of(data: dict[str, Any] | str) -> TimeRange:
    """A ``TimeRange`` from a mapping or from YAML text (loaded as the rule loader loads rule files)."""
    return TimeRange.model_validate(parse_yaml(data)[0] if isinstance(data, str) else data)


def error_of(data: dict[str, Any]) -> str:
    """The first validation error as ``runbookd check`` words it: ``path: message``."""
    with pytest.raises(ValidationError) as exc:
        TimeRange.model_validate(data)
    err = exc.value.errors()[0]
    path = format_path(err["loc"])
    return f"{path}: {describe(err)}" if path else describe(err)


# -- timeIntervalTestCases (TestContainsTime) ------------------------------------------------------

BUSINESS_HOURS = {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]}
CONTAINS_CASES: list[tuple[TimeRange, list[str], list[str]]] = [
    (TimeRange(), ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"], []),
    (
        range_of(BUSINESS_HOURS),
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    (  # Easter 2020
        range_of({"days_of_month": ["4:6"], "months": ["4"], "years": ["2020"]}),
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        ["03 May 18 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000", "06 Apr 19 23:59 +0000",
         "07 Apr 20 00:00 +0000"],
    ),
    (  # negative days of month: the last three days of each month
        range_of({"days_of_month": ["-3:-1"]}),
        ["31 Jan 20 15:04 +0000", "30 Jan 20 15:04 +0000", "29 Jan 20 15:04 +0000", "30 Jun 20 00:00 +0000",
         "29 Feb 20 23:05 +0000"],
        ["03 May 18 15:04 +0000", "27 Jan 20 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000",
         "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000", "01 Mar 20 00:00 +0000"],
    ),
    (  # out-of-bound days are clamped to the month (built without validation, as the Go test does)
        TimeRange.model_construct(months=[(6, 6)], days_of_month=[(-31, 31)], times=None, weekdays=None,
                                  years=None, location="UTC"),
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "1 Jul 20 00:00 +0000"],
    ),
    (  # another location: AEST 9am to 5pm, Monday to Friday
        range_of({**BUSINESS_HOURS, "location": "Australia/Sydney"}),
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    (  # another location during daylight saving time
        range_of({**BUSINESS_HOURS, "months": ["11"], "location": "Australia/Sydney"}),
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
]


@pytest.mark.parametrize(("interval", "inside", "outside"), CONTAINS_CASES)
def test_contains_time(interval: TimeRange, inside: list[str], outside: list[str]) -> None:
    for text in inside:
        assert interval.contains(at(text)), text
    for text in outside:
        assert not interval.contains(at(text)), text


# -- timeStringTestCases (TestParseTimeString) ------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "minutes"), [("00:00", "24:00", (0, 1440)), ("01:35", "17:39", (95, 1059)),
                                  ("09:35", "09:39", (575, 579))]
)
def test_times_parse_to_minutes_of_the_day(start: str, end: str, minutes: tuple[int, int]) -> None:
    [t] = range_of({"times": [{"start_time": start, "end_time": end}]}).times
    assert (t.start_time, t.end_time) == minutes


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ({"start_time": "17:31", "end_time": "17:31"}, "times[0]: start_time 17:31 must be before end_time 17:31"),
        ({"start_time": "12:30", "end_time": "24:01"},
         "times[0].end_time: couldn't parse timestamp 24:01, invalid format"),
        ({"start_time": "09:30", "end_time": "07:41"}, "times[0]: start_time 09:30 must be before end_time 07:41"),
        ({"start_time": "24:00", "end_time": "17:41"}, "times[0]: start_time 24:00 must be before end_time 17:41"),
        ({"start_time": "14:03"}, "times[0].end_time: missing required key 'end_time'"),
        ({"start_time": "01:99", "end_time": "23:59"},
         "times[0].start_time: couldn't parse timestamp 01:99, invalid format"),
        ({"start_time": "00:00", "end_time": "99:99"},
         "times[0].end_time: couldn't parse timestamp 99:99, invalid format"),
        ({"start_time": "9:00", "end_time": "17:00"},
         "times[0].start_time: couldn't parse timestamp 9:00, invalid format"),
    ],
)
def test_invalid_times(times: dict[str, str], message: str) -> None:
    assert error_of({"times": [times]}).startswith(message)


# -- yamlUnmarshalTestCases (TestYamlUnmarshal) -----------------------------------------------------

ADVANCED = """
# Last week, excluding Saturday, of the first quarter of the year during business hours
# from 2020 to 2025 and 2030-2035
weekdays: ['monday:friday', 'sunday']
months: ['january:march']
days_of_month: ['-7:-1']
years: ['2020:2025', '2030:2035']
times:
  - start_time: '09:00'
    end_time: '17:00'
"""


def test_yaml_business_hours() -> None:
    interval = range_of("weekdays: ['monday:friday']\ntimes:\n  - start_time: '09:00'\n    end_time: '17:00'\n")
    assert interval.weekdays == [(1, 5)] and interval.times[0].start_time == 540
    for text in ("08 Jul 20 09:00 +0000", "08 Jul 20 16:59 +0000", "01 Apr 21 13:00 +0000"):
        assert interval.contains(at(text)), text
    for text in ("08 Jul 20 05:00 +0000", "08 Jul 20 08:59 +0000"):
        assert not interval.contains(at(text)), text


def test_yaml_negative_indices_and_several_ranges() -> None:
    interval = range_of(ADVANCED)
    assert interval.weekdays == [(1, 5), (0, 0)]
    assert interval.months == [(1, 3)] and interval.days_of_month == [(-7, -1)]
    assert interval.years == [(2020, 2025), (2030, 2035)]
    for text in ("27 Jan 21 09:00 +0000", "28 Jan 21 16:59 +0000", "29 Jan 21 13:00 +0000", "31 Mar 25 13:00 +0000",
                 "31 Jan 35 13:00 +0000"):
        assert interval.contains(at(text)), text
    for text in ("30 Jan 21 13:00 +0000", "01 Apr 21 13:00 +0000", "30 Jan 26 13:00 +0000", "31 Jan 35 17:01 +0000"):
        assert not interval.contains(at(text)), text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekdays": ["friday:monday"]}, "weekdays[0]: start day cannot be before end day"),
        ({"weekdays": ["blurgsday:flurgsday"]}, "weekdays[0]: blurgsday is not a valid weekday"),
        ({"weekdays": ["1:3"]}, "weekdays[0]: 1 is not a valid weekday"),
        ({"weekdays": ["-2:-1"]}, "weekdays[0]: -2 is not a valid weekday"),
        ({"weekdays": ["monday", "mondy"]}, "weekdays[1]: mondy is not a valid weekday"),
        ({"weekdays": ["monday:tuesday:friday"]},
         "weekdays[0]: couldn't parse range monday:tuesday:friday, invalid format"),
        ({"days_of_month": ["0"]}, "days_of_month[0]: 0 is not a valid day of the month: out of range"),
        ({"days_of_month": ["-50:-20"]}, "days_of_month[0]: -50 is not a valid day of the month: out of range"),
        ({"days_of_month": ["1:50"]}, "days_of_month[0]: 50 is not a valid day of the month: out of range"),
        ({"days_of_month": ["-15:5"]}, "days_of_month[0]: end day must be negative if start day is negative"),
        ({"days_of_month": ["10:-25"]}, "days_of_month[0]: end day -25 is always before start day 10"),
        ({"months": ["martius:june"]}, "months[0]: martius is not a valid month"),
        ({"months": ["march:junius"]}, "months[0]: junius is not a valid month"),
        ({"months": ["13"]}, "months[0]: month 13 is outside 1 … 12: Alertmanager accepts it"),
        ({"months": ["december:january"]}, "months[0]: end month january is before start month december"),
        ({"years": ["2022:2020"]}, "years[0]: end year 2020 is before start year 2022"),
        ({"years": ["twenty"]}, "years[0]: unknown year 'twenty'"),
        ({"location": "Mars/Olympus_Mons"}, "location: unknown location 'Mars/Olympus_Mons'"),
        ({"weekday": ["monday"]}, "weekday: unknown key 'weekday'"),
    ],
)
def test_invalid_fields_are_named_with_their_position(data: dict[str, Any], message: str) -> None:
    assert error_of(data).startswith(message)


def test_valid_yaml_forms() -> None:
    assert range_of({"days_of_month": ["1:-1"]}).days_of_month == [(1, -1)]
    assert range_of({"months": ["January:december"]}).months == [(1, 12)]
    assert range_of({"weekdays": ["Monday:FRIDAY"]}).weekdays == [(1, 5)]
    assert range_of({"days_of_month": [1, "15"], "years": [2026]}).days_of_month == [(1, 1), (15, 15)]
    sydney = range_of({"years": ["2020:2022"], "location": "Australia/Sydney"})
    assert sydney.years == [(2020, 2022)] and sydney.location == "Australia/Sydney"


# -- completeTestCases (TestTimeIntervalComplete) ---------------------------------------------------


def test_complete_flow() -> None:
    interval = range_of("""
weekdays: ['monday:wednesday', 'saturday', 'sunday']
times:
  - start_time: '13:00'
    end_time: '15:00'
days_of_month: ['1', '10', '20:-1']
years: ['2020:2023']
months: ['january:march']
""")
    for text in ("10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"):
        assert interval.contains(at(text)), text
    for text in ("09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"):
        assert not interval.contains(at(text)), text


def test_a_range_starting_after_the_end_of_the_month_matches_nothing() -> None:
    interval = range_of("days_of_month: ['30:31']\nyears: ['2020:2023']\nmonths: ['february']\n")
    assert not interval.contains(at("28 Feb 21 13:00 +0000"))


# -- runbookd's own cases ---------------------------------------------------------------------------

MARKET_HOURS = TimeInterval.model_validate(
    {
        "name": "market-hours",
        "time_intervals": [
            {
                "times": [{"start_time": "09:30", "end_time": "16:00"}],
                "weekdays": ["monday:friday"],
                "location": "America/New_York",
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        # winter, EST = UTC-5
        ("2026-01-05T14:29", False), ("2026-01-05T14:30", True), ("2026-01-05T20:59", True),
        ("2026-01-05T21:00", False), ("2026-01-10T15:00", False),  # a Saturday
        # last Friday before spring forward (still EST) and the Monday after (EDT = UTC-4)
        ("2026-03-06T13:30", False), ("2026-03-06T14:30", True), ("2026-03-09T13:29", False),
        ("2026-03-09T13:30", True), ("2026-03-09T19:59", True), ("2026-03-09T20:00", False),
        # summer, EDT
        ("2026-07-06T13:30", True), ("2026-07-06T20:30", False),
        # the Monday after falling back (EST again)
        ("2026-11-02T13:30", False), ("2026-11-02T14:30", True), ("2026-11-02T20:59", True),
        ("2026-11-02T21:00", False),
        # a UTC evening that is still Friday afternoon in New York, and a UTC Monday that is Sunday there
        ("2026-01-09T20:30", True), ("2026-01-12T03:00", False),
    ],
)
def test_us_market_hours_across_daylight_saving_time(when: str, open_: bool) -> None:
    assert MARKET_HOURS.contains(utc(when)) is open_


def test_seconds_do_not_matter_within_the_last_minute() -> None:
    assert MARKET_HOURS.contains(utc("2026-01-05T20:59") + 59.9)


def test_negative_days_count_calendar_days_in_a_spring_forward_month() -> None:
    """The last day of March 2021 in New York is the 31st (Alertmanager PR #5447), not the 30th."""
    last = range_of({"days_of_month": ["-1"], "location": "America/New_York"})
    assert last.contains(at("31 Mar 21 12:00 -0400"))
    assert not last.contains(at("30 Mar 21 12:00 -0400"))


def test_the_default_location_is_utc() -> None:
    interval = range_of(BUSINESS_HOURS)
    assert interval.location == "UTC"
    assert interval.contains(at("04 May 20 09:00 +0000"))
    assert not interval.contains(at("04 May 20 09:00 +0200"))


def test_a_named_interval_is_the_union_of_its_ranges() -> None:
    weekend_or_night = TimeInterval.model_validate(
        {
            "name": "off-hours",
            "time_intervals": [
                {"weekdays": ["saturday", "sunday"]},
                {"times": [{"start_time": "00:00", "end_time": "09:00"}, {"start_time": "17:00", "end_time": "24:00"}]},
            ],
        }
    )
    assert weekend_or_night.contains(at("09 May 20 12:00 +0000"))  # Saturday noon
    assert weekend_or_night.contains(at("05 May 20 23:59 +0000"))  # Tuesday night
    assert not weekend_or_night.contains(at("05 May 20 12:00 +0000"))  # Tuesday noon


def test_an_empty_named_interval_contains_nothing_and_an_empty_range_everything() -> None:
    assert not TimeInterval(name="never").contains(utc("2026-01-05T14:30"))
    always = TimeInterval.model_validate({"name": "always", "time_intervals": [{}]})
    assert always.contains(utc("2026-01-05T14:30"))


@pytest.mark.parametrize("field", ["times", "weekdays", "days_of_month", "months", "years"])
def test_an_explicitly_empty_list_never_matches(field: str) -> None:
    """``weekdays: []`` is an empty non-nil slice in yaml.v2 (go-yaml/yaml v2.4.0 ``decode.go``,
    ``sequence``: ``reflect.MakeSlice(type, 0, 0)``), and ``ContainsTime`` tests ``!= nil``: no instant
    is in it (timeinterval.go v0.27.0, unchanged on main)."""
    interval = range_of(f"{field}: []\n")
    for text in ("2026-01-05T14:30", "2026-01-10T03:00", "2020-02-29T00:00"):
        assert not interval.contains(utc(text)), text


@pytest.mark.parametrize("field", ["times", "weekdays", "days_of_month", "months", "years"])
def test_a_null_field_holds_always(field: str) -> None:
    """``weekdays:`` with no value stays nil in yaml.v2, like an omitted field: it always holds."""
    interval = range_of(f"{field}:\nlocation: America/New_York\n")
    for text in ("2026-01-05T14:30", "2026-01-10T03:00", "2020-02-29T00:00"):
        assert interval.contains(utc(text)), text


@pytest.mark.parametrize("yaml_text", ["location: ''\n", "location:\n", "location: UTC\n", ""])
def test_an_empty_or_null_location_is_utc(yaml_text: str) -> None:
    """Go's ``time.LoadLocation("")`` is UTC, and a null location leaves the pointer nil (UTC)."""
    interval = range_of(yaml_text + "times: [{start_time: '09:00', end_time: '10:00'}]\n")
    assert interval.location == "UTC"
    assert interval.contains(utc("2026-01-05T09:30")) and not interval.contains(utc("2026-01-05T10:00"))


def test_location_local_is_refused_with_the_reason() -> None:
    """Alertmanager reads ``Local`` as its host's zone; runbookd refuses it and says why."""
    message = error_of({"location": "Local"})
    assert message.startswith("location: location 'Local' (the zone of the machine Alertmanager runs on) is refused")
    assert "name the zone" in message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekdays": [" monday"]}, "weekdays[0]:  monday is not a valid weekday"),
        ({"days_of_month": ["1: 5"]}, "days_of_month[0]: unknown day of the month ' 5'"),
        ({"times": [{"start_time": " 09:00", "end_time": "10:00"}]},
         "times[0].start_time: couldn't parse timestamp  09:00, invalid format"),
    ],
)
def test_whitespace_is_not_trimmed_as_in_go(data: dict[str, Any], message: str) -> None:
    """stringableRangeFromString and parseTime take the text as it is: a space makes it invalid."""
    assert error_of(data).startswith(message)


def test_years_are_any_ordered_numbers_as_in_go() -> None:
    """YearRange has no lower bound in Go: ``0:2026`` is accepted and matches up to 2026."""
    interval = range_of({"years": ["0:2026"]})
    assert interval.years == [(0, 2026)]
    assert interval.contains(utc("2026-12-31T23:59")) and not interval.contains(utc("2027-01-01T00:00"))


def test_unquoted_times_and_ranges_are_text_as_in_yaml_v2() -> None:
    """The rule loader has no base-60 numbers: ``16:00`` and ``1:5`` unquoted read as Alertmanager reads them."""
    interval = range_of("times:\n  - start_time: 09:30\n    end_time: 16:00\ndays_of_month: [1:5]\n")
    assert interval.times is not None
    assert (interval.times[0].start_time, interval.times[0].end_time) == (570, 960)
    assert interval.days_of_month == [(1, 5)]


def test_a_number_is_read_as_its_text_as_yaml_v2_does() -> None:
    """yaml.v2 decodes a number into a Go string as its text: ``[5]`` is day 5, ``start_time: 1020`` is bad."""
    assert range_of("days_of_month: [5]\nyears: [2026]\n").days_of_month == [(5, 5)]
    with pytest.raises(ValidationError, match="couldn't parse timestamp 1020, invalid format"):
        range_of("times: [{start_time: 1020, end_time: '18:00'}]\n")


def test_a_dump_reads_back_as_alertmanager_syntax() -> None:
    dumped = TimeInterval.model_validate({"name": "q1", "time_intervals": [parse_yaml(ADVANCED)[0]]}).model_dump(
        mode="json"
    )
    assert dumped["time_intervals"][0] == {
        "times": [{"start_time": "09:00", "end_time": "17:00"}],
        "weekdays": ["monday:friday", "sunday"],
        "days_of_month": ["-7:-1"],
        "months": ["january:march"],
        "years": ["2020:2025", "2030:2035"],
        "location": "UTC",
    }
    assert TimeInterval.model_validate(dumped).model_dump(mode="json") == dumped


def test_time_intervals_are_frozen_values() -> None:
    with pytest.raises(ValidationError):
        MARKET_HOURS.name = "other"  # type: ignore[misc]
