"""Service levels and the daily CSV per channel: e-mail held to its own target and
counted apart from chat."""

from __future__ import annotations

import csv
import io
from typing import Any

from chatserver.core import reports

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000


def conv(cid: str, channel: str, answered_after_s: float | None, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": cid,
        "channel": channel,
        "created_ms": T0,
        "first_human_reply_ms": None
        if answered_after_s is None
        else T0 + int(answered_after_s * 1000),
        "closed_ms": None,
        "state": "active",
    }
    row.update(kw)
    return row


def test_an_email_answered_in_two_hours_is_on_target_and_a_chat_answered_in_a_minute_is_not() -> (
    None
):
    convs = [
        conv("chat-fast", "chat", 20),
        conv("chat-slow", "chat", 60),
        conv("mail-2h", "email", 2 * 3600),
        conv("mail-5h", "email", 5 * 3600),
    ]
    levels = reports.service_levels(convs, [], target_s=30, mail_target_s=4 * 3600)
    assert levels.within_target == 0.5
    assert levels.by_channel["chat"]["within_target"] == 0.5
    assert levels.by_channel["email"]["within_target"] == 0.5
    assert levels.by_channel["email"]["target_s"] == 4 * 3600
    assert levels.by_channel["chat"]["conversations"] == 2
    # Without a mail target every conversation is held to the chat's: both mails miss.
    assert reports.service_levels(convs, [], target_s=30).within_target == 0.25


def test_an_unanswered_mail_an_hour_old_is_not_late_but_a_chat_a_minute_old_is() -> None:
    now = T0 + HOUR_MS
    convs = [conv("mail", "email", None), conv("chat", "chat", None)]
    levels = reports.service_levels(convs, [], target_s=30, now_ms=now, mail_target_s=4 * 3600)
    assert levels.waiting_over_target == 1
    assert levels.by_channel["chat"]["within_target"] == 0.0
    assert levels.by_channel["email"]["within_target"] is None


def test_the_daily_csv_has_each_conversations_channel_and_messages_per_channel() -> None:
    row = conv("m1", "email", 60, messages_by_channel={"chat": 1, "email_in": 2, "email_out": 3})
    text = reports.daily_csv([row, conv("c1", "chat", 10)], {})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert (rows[0]["channel"], rows[0]["chat_messages"]) == ("email", "1")
    assert (rows[0]["email_in"], rows[0]["email_out"]) == ("2", "3")
    assert (rows[1]["channel"], rows[1]["chat_messages"], rows[1]["email_out"]) == ("chat", "", "")
