"""The pure e-mail rules: reply tokens, machine-sent mail, the new text of a reply, HTML
to text, the phrase set of a language."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from chatserver.core.mail import (
    html_to_text,
    machine_sent,
    message_ids,
    read_inbound,
    reply_address,
    reply_tokens,
    strip_reply,
    verify_token,
)
from chatserver.core.mail_phrases import PHRASES, language_of

SECRET = "unit-secret"


def test_a_reply_token_names_its_conversation_and_nothing_else() -> None:
    address = reply_address(SECRET, "Ab_c-1234567890xy", "mail.test")
    (token,) = reply_tokens([address.upper().replace("MAIL.TEST", "mail.test")], "mail.test")
    assert verify_token(SECRET, token) == "Ab_c-1234567890xy"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # signature changed
        lambda t: "41" + t,  # another conversation id, same signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: "zz." + t.split(".")[1],  # not hex
    ],
)
def test_a_forged_token_names_no_conversation(tamper: object) -> None:
    token = reply_address(SECRET, "conv1", "d").split("+", 1)[1].split("@")[0]
    assert verify_token(SECRET, tamper(token)) is None  # type: ignore[operator]
    assert verify_token("other-secret", token) is None


def test_only_our_domains_reply_addresses_carry_tokens() -> None:
    assert reply_tokens(["reply+abc@evil.test", "support@mail.test"], "mail.test") == []


def mail(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "ana@example.com")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("hi")
    return msg


@pytest.mark.parametrize(
    ("headers", "envelope_from"),
    [
        ({"Auto_Submitted": "auto-replied"}, "a@x"),
        ({"Precedence": "bulk"}, "a@x"),
        ({"Precedence": "junk"}, "a@x"),
        ({"Precedence": "list"}, "a@x"),
        ({"X_Autoreply": "yes"}, "a@x"),
        ({}, ""),
        ({}, "<>"),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "a@x"),
    ],
)
def test_auto_replies_and_bounces_are_machine_sent(
    headers: dict[str, str], envelope_from: str
) -> None:
    assert machine_sent(mail(**headers), envelope_from) is not None


def test_a_person_s_mail_is_not_machine_sent() -> None:
    assert machine_sent(mail(Auto_Submitted="no"), "ana@example.com") is None
    assert machine_sent(mail(), None) is None


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Mia <m@x> wrote:\n> old", "Thanks!"),
        ("Hvala!\n\nDne 1. 12. 2026 ob 10:00 je Mia napisala:\n> staro", "Hvala!"),
        ("Ačiū!\n\n2026-12-01 10:00, Mia rašė:\n> sena", "Ačiū!"),
        ("Mulțumesc!\n\nÎn lun., 1 dec. 2026, Mia a scris:\n> vechi", "Mulțumesc!"),
        ("Спасибо!\n\nпн, 1 дек. 2026 г. в 10:00, Mia <m@x>:\nMia написал:\n> старое", "Спасибо!"),
        ("Hvala!\n\n1. dec 2026. u 10:00 Mia je napisala:\n> staro", "Hvala!"),
        ("Yes please\n\n-- \nAna Novak\nACME d.o.o.", "Yes please"),
        ("Ok\n\nSent from my iPhone", "Ok"),
        ("Line one\n> quoted\nLine two", "Line one\nLine two"),
        (
            "Sure\n\n-----Original Message-----\nFrom: Support\nSubject: x",
            "Sure",
        ),
    ],
)
def test_quoted_history_and_signatures_are_cut(text: str, new: str) -> None:
    assert strip_reply(text) == new


def test_html_becomes_text_without_scripts_styles_or_quoted_blocks() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Hello &amp; <b>thanks</b></p>"
        "<script>alert(1)</script><div>second<br>line</div>"
        '<div class="gmail_quote">On … wrote:<blockquote>old</blockquote></div></body></html>'
    )
    assert html_to_text(html) == "Hello & thanks\n\nsecond\nline"


def test_an_inbound_mail_lists_attachments_and_keeps_no_controls() -> None:
    msg = EmailMessage()
    msg["From"] = "Ana <Ana@Example.com>"
    msg["To"] = "reply+x@mail.test"
    msg["Message-ID"] = "<m1@example.com>"
    msg["References"] = "<a@x> <b@x>"
    msg.set_content("bad\x07bell")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="invoice.pdf")
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert isinstance(parsed, EmailMessage)
    inbound = read_inbound(parsed, ["reply+y@mail.test"])
    assert inbound.sender == "ana@example.com" and inbound.text == "badbell"
    assert inbound.message_id == "<m1@example.com>"
    assert inbound.in_reply_to == ["<a@x>", "<b@x>"]
    assert inbound.recipients[:2] == ["reply+y@mail.test", "reply+x@mail.test"]
    assert [(a.filename, a.content_type, a.size) for a in inbound.attachments] == [
        ("invoice.pdf", "application/pdf", 4)
    ]


def test_message_ids_are_read_in_order() -> None:
    assert message_ids("<a@x>\r\n <b@y>") == ["<a@x>", "<b@y>"]


def test_every_language_has_every_phrase_and_tags_map_to_them() -> None:
    keys = set(PHRASES["en"])
    assert all(set(p) == keys for p in PHRASES.values())
    assert {"en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl"} <= set(PHRASES)
    assert language_of("sl-SI") == "sl"
    assert language_of("sr") == "sr-Latn"
    assert language_of("sr-Cyrl-RS") == "sr-Cyrl"
    assert language_of("de") == "en" and language_of(None) == "en"
