"""The fixed words of the mails the desk sends, per language. The templates
(``chatserver/services/mail_templates/``) put user text around them, escaped."""

from __future__ import annotations

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "reply_subject": "New reply to your conversation",
        "transcript_subject": "Transcript of your conversation",
        "intro": "You have a new reply:",
        "thread": "Earlier in this conversation",
        "continue": "Continue the chat",
        "reply_hint": "You can also simply reply to this e-mail.",
        "you": "You",
        "transcript_intro": "Here is the transcript you asked for:",
    },
    "sl": {
        "reply_subject": "Nov odgovor v vašem pogovoru",
        "transcript_subject": "Prepis vašega pogovora",
        "intro": "Prejeli ste nov odgovor:",
        "thread": "Prej v tem pogovoru",
        "continue": "Nadaljujte klepet",
        "reply_hint": "Lahko tudi preprosto odgovorite na to e-poštno sporočilo.",
        "you": "Vi",
        "transcript_intro": "Tu je prepis, ki ste ga želeli:",
    },
    "lt": {
        "reply_subject": "Naujas atsakymas į jūsų pokalbį",
        "transcript_subject": "Jūsų pokalbio nuorašas",
        "intro": "Gavote naują atsakymą:",
        "thread": "Anksčiau šiame pokalbyje",
        "continue": "Tęsti pokalbį",
        "reply_hint": "Taip pat galite tiesiog atsakyti į šį laišką.",
        "you": "Jūs",
        "transcript_intro": "Štai jūsų prašytas nuorašas:",
    },
    "ro": {
        "reply_subject": "Răspuns nou în conversația dumneavoastră",
        "transcript_subject": "Transcrierea conversației dumneavoastră",
        "intro": "Aveți un răspuns nou:",
        "thread": "Mai devreme în această conversație",
        "continue": "Continuați conversația",
        "reply_hint": "Puteți și să răspundeți direct la acest e-mail.",
        "you": "Dumneavoastră",
        "transcript_intro": "Iată transcrierea cerută:",
    },
    "ru": {
        "reply_subject": "Новый ответ в вашем разговоре",
        "transcript_subject": "Запись вашего разговора",
        "intro": "Вам пришёл новый ответ:",
        "thread": "Ранее в этом разговоре",
        "continue": "Продолжить чат",
        "reply_hint": "Можно также просто ответить на это письмо.",
        "you": "Вы",
        "transcript_intro": "Вот запись разговора, которую вы запросили:",
    },
    "sr-Latn": {
        "reply_subject": "Novi odgovor u vašem razgovoru",
        "transcript_subject": "Zapis vašeg razgovora",
        "intro": "Imate novi odgovor:",
        "thread": "Ranije u ovom razgovoru",
        "continue": "Nastavite razgovor",
        "reply_hint": "Možete i jednostavno odgovoriti na ovu poruku.",
        "you": "Vi",
        "transcript_intro": "Evo zapisa koji ste tražili:",
    },
    "sr-Cyrl": {
        "reply_subject": "Нови одговор у вашем разговору",
        "transcript_subject": "Запис вашег разговора",
        "intro": "Имате нови одговор:",
        "thread": "Раније у овом разговору",
        "continue": "Наставите разговор",
        "reply_hint": "Можете и једноставно одговорити на ову поруку.",
        "you": "Ви",
        "transcript_intro": "Ево записа који сте тражили:",
    },
}


def language_of(tag: str | None) -> str:
    """The phrase set for a language tag: ``sl-SI`` → ``sl``; ``sr`` alone is Latin (what
    most Serbian sites write); ``sr-RS-Cyrl``/``sr-Cyrl-RS`` → Cyrillic; else English."""
    if not tag:
        return "en"
    parts = tag.replace("_", "-").split("-")
    base = parts[0].lower()
    if base == "sr":
        return "sr-Cyrl" if any(p.lower() == "cyrl" for p in parts[1:]) else "sr-Latn"
    return base if base in PHRASES else "en"


def phrases(tag: str | None) -> dict[str, str]:
    return PHRASES[language_of(tag)]
