"""Everything the bot says and recognises, per language: data, not code.

Plural forms follow the CLDR integer rules of each language; a phrase with a count is a dict
from plural category to text.  Recogniser words are in folded form (see ``kb.normalize.fold``:
no case, no diacritics, Serbian Cyrillic as Latin), so "Človek", "clovek" and "човек" all hit.
"""

from __future__ import annotations

from typing import Final

from kb.normalize import serbian_to_latin

LANGS: Final = ("en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl")
DEFAULT_LANG: Final = "en"

Phrase = str | dict[str, str]


def plural_category(lang: str, n: int) -> str:
    """CLDR cardinal category of a non-negative integer in ``lang``."""
    n = abs(n)
    mod10, mod100 = n % 10, n % 100
    base = lang.split("-")[0]
    if base == "sl":
        return {1: "one", 2: "two", 3: "few", 4: "few"}.get(mod100, "other")
    if base == "lt":
        if 11 <= mod100 <= 19:
            return "other"
        return "one" if mod10 == 1 else "few" if mod10 >= 2 else "other"
    if base == "ro":
        if n == 1:
            return "one"
        return "few" if n == 0 or 1 <= mod100 <= 19 else "other"
    if base in ("ru", "sr"):
        if mod10 == 1 and mod100 != 11:
            return "one"
        if 2 <= mod10 <= 4 and not 12 <= mod100 <= 14:
            return "few"
        return "many" if base == "ru" else "other"
    return "one" if n == 1 else "other"


_SR_LATN: dict[str, Phrase] = {
    "label": "Bot",
    "greet": "Zdravo! Ja sam bot podrške – automatski asistent, a ne čovek.",
    "queue_ahead": {
        "one": "Ispred vas je {n} osoba.",
        "few": "Ispred vas su {n} osobe.",
        "other": "Ispred vas je {n} osoba.",
    },
    "queue_next": "Ispred vas nema nikoga.",
    "eta": {
        "one": "Očekivano vreme čekanja je oko {n} minut.",
        "few": "Očekivano vreme čekanja je oko {n} minuta.",
        "other": "Očekivano vreme čekanja je oko {n} minuta.",
    },
    "eta_soon": "Neko iz našeg tima trebalo bi da se javi za manje od minut.",
    "ask": "Dok čekate, postavite mi pitanje – potražiću odgovor u našim člancima pomoći. "
    "Napišite „operater” bilo kada ako želite da sačekate čoveka.",
    "answer": "Ovaj članak bi trebalo da vam pomogne:",
    "did_it_help": "Da li je ovo odgovorilo na vaše pitanje?",
    "offer": "Evo nekoliko članaka koji bi mogli da pomognu:",
    "did_any_help": "Da li vam je neki od njih pomogao?",
    "no_answer": "Nažalost, odgovor nije pronađen. Neko iz našeg tima će vam odgovoriti "
    "čim bude slobodan.",
    "helped": "Odlično, drago mi je da je pomoglo! Ako je to sve, razgovor možete završiti ovde. "
    "Ako vam ipak treba čovek, samo napišite.",
    "yes": "Da",
    "no": "Ne",
    "end_chat": "Završi razgovor",
    "not_helped": "Žao mi je. Neko iz našeg tima će preuzeti razgovor čim bude slobodan – "
    "zadržavate svoje mesto u redu.",
    "human_ack": "Naravno – prebaciću vas na čoveka. Zadržavate svoje mesto u redu.",
    "offline": "Trenutno niko iz našeg tima nije dostupan. Ostavite svoju imejl adresu i "
    "poruku, pa ćemo vam odgovoriti imejlom.",
}

_LATIN_TO_SERBIAN_CYRILLIC = {
    "dž": "џ", "lj": "љ", "nj": "њ", "a": "а", "b": "б", "c": "ц", "č": "ч", "ć": "ћ",
    "d": "д", "đ": "ђ", "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "ј", "k": "к",
    "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "š": "ш", "t": "т",
    "u": "у", "v": "в", "z": "з", "ž": "ж",
}  # fmt: skip


def serbian_to_cyrillic(text: str) -> str:
    """Serbian Latin to Cyrillic (digraphs first); only used to derive the sr-Cyrl table."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "{":  # a format placeholder such as {n} stays as it is
            end = text.index("}", i) + 1
            out.append(text[i:end])
            i = end
            continue
        pair = text[i : i + 2]
        if len(pair) == 2 and pair.lower() in _LATIN_TO_SERBIAN_CYRILLIC:
            cyr = _LATIN_TO_SERBIAN_CYRILLIC[pair.lower()]
            out.append(cyr.upper() if pair[0].isupper() else cyr)
            i += 2
            continue
        ch = text[i]
        one = _LATIN_TO_SERBIAN_CYRILLIC.get(ch.lower())
        out.append(ch if one is None else one.upper() if ch.isupper() else one)
        i += 1
    return "".join(out)


def _cyrillic_table(table: dict[str, Phrase]) -> dict[str, Phrase]:
    out: dict[str, Phrase] = {}
    for key, value in table.items():
        if isinstance(value, str):
            out[key] = serbian_to_cyrillic(value)
        else:
            out[key] = {cat: serbian_to_cyrillic(text) for cat, text in value.items()}
    return out


PHRASES: Final[dict[str, dict[str, Phrase]]] = {
    "en": {
        "label": "Bot",
        "greet": "Hi! I'm the support bot – an automated assistant, not a person.",
        "queue_ahead": {
            "one": "There is {n} person ahead of you in the queue.",
            "other": "There are {n} people ahead of you in the queue.",
        },
        "queue_next": "You are next in the queue.",
        "eta": {
            "one": "The expected wait is about {n} minute.",
            "other": "The expected wait is about {n} minutes.",
        },
        "eta_soon": "Someone from our team should be with you in less than a minute.",
        "ask": "While you wait, ask me anything – I'll look for an answer in our help articles. "
        'Write "human" at any time if you would rather wait for a person.',
        "answer": "This article should help:",
        "did_it_help": "Did this answer your question?",
        "offer": "I found a few articles that may help:",
        "did_any_help": "Did one of them answer your question?",
        "no_answer": "Sorry, I couldn't find an answer to that. Someone from our team will "
        "reply as soon as they are free.",
        "helped": "Great, glad it helped! If that was all, you can end the chat here. If you "
        "still need a person, just say so.",
        "yes": "Yes",
        "no": "No",
        "end_chat": "End chat",
        "not_helped": "Sorry about that. Someone from our team will take over as soon as they "
        "are free – you keep your place in the queue.",
        "human_ack": "Of course – I'll hand you over to a person. You keep your place in the queue.",
        "offline": "Nobody from our team is available right now. Leave your e-mail address and "
        "your message, and we will reply by e-mail.",
    },
    "sl": {
        "label": "Bot",
        "greet": "Pozdravljeni! Sem podporni bot – samodejni pomočnik, ne človek.",
        "queue_ahead": {
            "one": "Pred vami je v vrsti {n} oseba.",
            "two": "Pred vami sta v vrsti {n} osebi.",
            "few": "Pred vami so v vrsti {n} osebe.",
            "other": "Pred vami je v vrsti {n} oseb.",
        },
        "queue_next": "Pred vami ni nikogar več.",
        "eta": {
            "one": "Predvideni čas čakanja je približno {n} minuta.",
            "two": "Predvideni čas čakanja je približno {n} minuti.",
            "few": "Predvideni čas čakanja je približno {n} minute.",
            "other": "Predvideni čas čakanja je približno {n} minut.",
        },
        "eta_soon": "Nekdo iz naše ekipe bo z vami v manj kot minuti.",
        "ask": "Medtem mi lahko zastavite vprašanje – odgovor poiščem v naših člankih pomoči. "
        "Če želite počakati na človeka, kadar koli napišite »človek«.",
        "answer": "Ta članek bi vam moral pomagati:",
        "did_it_help": "Ali je to odgovorilo na vaše vprašanje?",
        "offer": "Tukaj je nekaj člankov, ki bi vam lahko pomagali:",
        "did_any_help": "Ali je kateri od njih odgovoril na vaše vprašanje?",
        "no_answer": "Odgovora na to žal ni v naših člankih. Nekdo iz naše ekipe vam bo odgovoril, "
        "takoj ko bo prost.",
        "helped": "Odlično, to me veseli! Če je bilo to vse, lahko klepet tukaj končate. Če "
        "vseeno potrebujete človeka, nam to kar napišite.",
        "yes": "Da",
        "no": "Ne",
        "end_chat": "Končaj klepet",
        "not_helped": "Žal mi je. Nekdo iz naše ekipe bo prevzel pogovor, takoj ko bo prost – "
        "vaše mesto v vrsti ostaja.",
        "human_ack": "Seveda – pogovor predam človeku. Vaše mesto v vrsti ostaja.",
        "offline": "Trenutno ni na voljo nikogar iz naše ekipe. Pustite svoj e-naslov in "
        "sporočilo, pa vam odgovorimo po e-pošti.",
    },
    "lt": {
        "label": "Botas",
        "greet": "Sveiki! Esu pagalbos botas – automatinis asistentas, ne žmogus.",
        "queue_ahead": {
            "one": "Prieš jus eilėje yra {n} žmogus.",
            "few": "Prieš jus eilėje yra {n} žmonės.",
            "other": "Prieš jus eilėje yra {n} žmonių.",
        },
        "queue_next": "Prieš jus eilėje nieko nėra.",
        "eta": {
            "one": "Numatomas laukimo laikas – apie {n} minutę.",
            "few": "Numatomas laukimo laikas – apie {n} minutes.",
            "other": "Numatomas laukimo laikas – apie {n} minučių.",
        },
        "eta_soon": "Mūsų komandos narys atsilieps greičiau nei per minutę.",
        "ask": "Kol laukiate, užduokite man klausimą – paieškosiu atsakymo mūsų pagalbos "
        "straipsniuose. Bet kada parašykite „operatorius“, jei norite laukti žmogaus.",
        "answer": "Šis straipsnis turėtų padėti:",
        "did_it_help": "Ar tai atsakė į jūsų klausimą?",
        "offer": "Radau keletą straipsnių, kurie gali padėti:",
        "did_any_help": "Ar kuris nors iš jų atsakė į jūsų klausimą?",
        "no_answer": "Deja, neradau atsakymo. Mūsų komandos narys atsakys, kai tik atsilaisvins.",
        "helped": "Puiku, džiaugiuosi, kad padėjo! Jei tai viskas, pokalbį galite baigti čia. "
        "Jei vis dėlto reikia žmogaus, tiesiog parašykite.",
        "yes": "Taip",
        "no": "Ne",
        "end_chat": "Baigti pokalbį",
        "not_helped": "Atsiprašau. Mūsų komandos narys perims pokalbį, kai tik atsilaisvins – "
        "jūsų vieta eilėje išlieka.",
        "human_ack": "Žinoma – perduosiu jus žmogui. Jūsų vieta eilėje išlieka.",
        "offline": "Šiuo metu nėra laisvų mūsų komandos narių. Palikite savo el. pašto adresą "
        "ir žinutę – atsakysime el. paštu.",
    },
    "ro": {
        "label": "Bot",
        "greet": "Bună! Sunt botul de asistență – un asistent automat, nu o persoană.",
        "queue_ahead": {
            "one": "În fața dvs. se află {n} persoană.",
            "few": "În fața dvs. se află {n} persoane.",
            "other": "În fața dvs. se află {n} de persoane.",
        },
        "queue_next": "Nu mai este nimeni înaintea dvs.",
        "eta": {
            "one": "Timpul estimat de așteptare este de aproximativ {n} minut.",
            "few": "Timpul estimat de așteptare este de aproximativ {n} minute.",
            "other": "Timpul estimat de așteptare este de aproximativ {n} de minute.",
        },
        "eta_soon": "Un coleg din echipa noastră vă va răspunde în mai puțin de un minut.",
        "ask": "Cât așteptați, puneți-mi o întrebare – caut răspunsul în articolele noastre de "
        "ajutor. Scrieți „operator” oricând dacă doriți să așteptați o persoană.",
        "answer": "Acest articol ar trebui să vă ajute:",
        "did_it_help": "V-a răspuns la întrebare?",
        "offer": "Am găsit câteva articole care v-ar putea ajuta:",
        "did_any_help": "V-a ajutat vreunul dintre ele?",
        "no_answer": "Nu am găsit un răspuns la această întrebare. Un coleg din echipa noastră "
        "vă va răspunde imediat ce se eliberează.",
        "helped": "Excelent, mă bucur că v-a ajutat! Dacă asta a fost tot, puteți încheia "
        "conversația aici. Dacă totuși aveți nevoie de o persoană, scrieți-ne.",
        "yes": "Da",
        "no": "Nu",
        "end_chat": "Încheie conversația",
        "not_helped": "Îmi pare rău. Un coleg din echipa noastră va prelua conversația imediat "
        "ce se eliberează – vă păstrați locul la rând.",
        "human_ack": "Desigur – vă transfer către o persoană. Vă păstrați locul la rând.",
        "offline": "Momentan nu este disponibil nimeni din echipa noastră. Lăsați-ne adresa de "
        "e-mail și mesajul, iar noi vă vom răspunde prin e-mail.",
    },
    "ru": {
        "label": "Бот",
        "greet": "Здравствуйте! Я бот поддержки — автоматический помощник, а не человек.",
        "queue_ahead": {
            "one": "Перед вами в очереди {n} человек.",
            "few": "Перед вами в очереди {n} человека.",
            "many": "Перед вами в очереди {n} человек.",
        },
        "queue_next": "Перед вами в очереди никого нет.",
        "eta": {
            "one": "Примерное время ожидания — {n} минута.",
            "few": "Примерное время ожидания — {n} минуты.",
            "many": "Примерное время ожидания — {n} минут.",
        },
        "eta_soon": "Сотрудник нашей команды подключится меньше чем через минуту.",
        "ask": "Пока вы ждёте, задайте мне вопрос — я поищу ответ в наших справочных статьях. "
        "Напишите «оператор» в любой момент, если хотите дождаться человека.",
        "answer": "Эта статья должна помочь:",
        "did_it_help": "Это ответ на ваш вопрос?",
        "offer": "Вот несколько статей, которые могут помочь:",
        "did_any_help": "Помогла ли одна из них?",
        "no_answer": "К сожалению, ответа найти не удалось. Сотрудник нашей команды ответит, как "
        "только освободится.",
        "helped": "Отлично, хорошо, что это помогло! Если это всё, чат можно завершить. Если "
        "вам всё же нужен человек, просто напишите.",
        "yes": "Да",
        "no": "Нет",
        "end_chat": "Завершить чат",
        "not_helped": "Извините. Сотрудник нашей команды подключится, как только освободится, — "
        "ваше место в очереди сохраняется.",
        "human_ack": "Конечно — я передам разговор человеку. Ваше место в очереди сохраняется.",
        "offline": "Сейчас никого из нашей команды нет на месте. Оставьте свой e-mail и "
        "сообщение, и мы ответим вам по почте.",
    },
    "sr-Latn": _SR_LATN,
    "sr-Cyrl": _cyrillic_table(_SR_LATN),
}

# -- recognisers (folded word forms) -------------------------------------------------------

HUMAN_WORDS: Final = frozenset(
    """
    human humans agent agents operator operators person persons representative rep staff
    clovek cloveka clovekom cloveku operater operaterja operaterjem operaterka operaterko
    operatorja agenta agentom oseba osebo svetovalec svetovalca svetovalko
    zmogus zmogumi zmogaus zmogu zmogui operatorius operatoriumi operatoriaus operatoriu
    operatoriui konsultantas konsultantu konsultanto konsultanta darbuotojas darbuotoju
    omul operatorul operatorului agentul persoana consultant consultantul reprezentant
    covek coveka covekom coveku operatera operaterom operatora osobom osobu konsultant
    sluzbenik sluzbenika
    человек человека человеком человеку оператор оператора оператором оператору
    консультант консультанта консультантом менеджер менеджера менеджером специалист
    специалиста специалистом сотрудник сотрудника сотрудником
    """.split()
)
# Two-word requests whose words are too common to count alone.
HUMAN_PHRASES: Final = (
    ("real", "someone"),
    ("talk", "someone"),
    ("speak", "someone"),
    ("zivo", "osebo"),
    ("ziva", "osoba"),
    ("zivu", "osobu"),
)
YES_WORDS: Final = frozenset(
    """
    yes yeah yep yup sure thanks thank thx helped great perfect
    da ja jep hvala pomagalo super odlicno
    taip aciu padejo jo
    multumesc mersi ajutat
    jeste pomoglo
    да спасибо помогло ага
    """.split()
)
NO_WORDS: Final = frozenset(
    """
    no nope nah not didnt doesnt
    ne ni nic nisem
    nepadejo
    nu
    nije
    нет не
    """.split()
)


def folded_phrase_check() -> list[str]:
    """Recogniser words that are not in folded form (a data bug); used by the tests."""
    from kb.normalize import fold

    bad = [w for w in HUMAN_WORDS | YES_WORDS | NO_WORDS if fold(w, "ru") != w]
    return sorted(bad)


__all__ = [
    "DEFAULT_LANG",
    "HUMAN_PHRASES",
    "HUMAN_WORDS",
    "LANGS",
    "NO_WORDS",
    "PHRASES",
    "YES_WORDS",
    "plural_category",
    "serbian_to_cyrillic",
    "serbian_to_latin",
]
