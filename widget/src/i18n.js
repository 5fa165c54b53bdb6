// The widget's words, per language. A counted phrase maps CLDR plural categories (from
// Intl.PluralRules) to text, so "2 minuti" in Slovenian and "5 минут" in Russian come out right.
// Serbian Cyrillic is derived from the Latin table so the two scripts can never drift apart.

export const LANGS = ["en", "sl", "lt", "ro", "ru", "sr-Latn", "sr-Cyrl"];

const en = {
  title: "Chat with us",
  open: "Open chat",
  close: "Close chat",
  unread: { one: "{n} unread message", other: "{n} unread messages" },
  you: "You",
  bot: "Bot",
  agent: "Agent",
  messages: "Messages",
  placeholder: "Write a message…",
  send: "Send",
  // The server's bot recognises this phrase as a request for a human (chatserver/bot/phrases.py).
  human: "Talk to a person",
  seen: "Seen",
  queued: "Will be sent when you are back online",
  failed: "Not sent",
  typing: "{name} is typing…",
  ahead: { one: "{n} person ahead of you", other: "{n} people ahead of you" },
  next: "You are next in line",
  wait: { one: "about {n} minute", other: "about {n} minutes" },
  soon: "less than a minute",
  waitLabel: "Estimated wait: {eta}",
  joined: "{name} joined the chat",
  left: "The agent left the chat",
  requeued: "You are back in the queue",
  transferred: "You are being transferred to a colleague",
  closed: "The chat has ended",
  rate: "How did we do?",
  stars: { one: "{n} star", other: "{n} stars" },
  comment: "Comment (optional)",
  submitRating: "Send rating",
  thanks: "Thank you for your feedback!",
  prechat: "Before we start, tell us who you are",
  name: "Your name",
  email: "E-mail",
  phone: "Phone",
  order: "Order number",
  required: "Please fill in the required fields.",
  start: "Start chat",
  away: "We are away right now",
  awayText: "Leave a message and we will answer by e-mail.",
  message: "Message",
  sendMessage: "Send message",
  sent: "Thank you! We will get back to you by e-mail.",
  sendFailed: "Could not send. Please try again.",
  help: "Help articles",
  search: "Search help articles",
  noResults: "Nothing found",
  back: "Back to chat",
  credits: { one: "{n} support credit left", other: "{n} support credits left" },
  noCredits: "You have no support credits left.",
  buy: "Buy more",
  reconnecting: "Reconnecting…",
  netOffline: "You are offline. Your messages will be sent when you are back.",
  ended: "Your chat session has ended.",
  retry: "Reconnect",
  newReply: "New message",
  welcome: "Hi! Ask us anything here.",
  replySoon: "We usually reply within a minute.",
  replyIn: "Expected reply time: {eta}.",
  endChat: "End chat",
  endAsk: "End this chat?",
  cancel: "Cancel",
  popular: "Popular articles",
};

const sl = {
  title: "Klepetajte z nami",
  open: "Odpri klepet",
  close: "Zapri klepet",
  unread: {
    one: "{n} neprebrano sporočilo",
    two: "{n} neprebrani sporočili",
    few: "{n} neprebrana sporočila",
    other: "{n} neprebranih sporočil",
  },
  you: "Vi",
  bot: "Bot",
  agent: "Svetovalec",
  messages: "Sporočila",
  placeholder: "Napišite sporočilo…",
  send: "Pošlji",
  human: "Želim govoriti s človekom",
  seen: "Prebrano",
  queued: "Poslano bo, ko boste spet povezani",
  failed: "Ni poslano",
  typing: "{name} piše…",
  ahead: {
    one: "Pred vami je {n} oseba",
    two: "Pred vami sta {n} osebi",
    few: "Pred vami so {n} osebe",
    other: "Pred vami je {n} oseb",
  },
  next: "Pred vami ni nikogar",
  wait: {
    one: "približno {n} minuta",
    two: "približno {n} minuti",
    few: "približno {n} minute",
    other: "približno {n} minut",
  },
  soon: "manj kot minuta",
  waitLabel: "Predviden čas čakanja: {eta}",
  joined: "{name} je zdaj v klepetu",
  left: "Svetovalec je zapustil klepet",
  requeued: "Spet ste v vrsti",
  transferred: "Predajamo vas sodelavcu",
  closed: "Klepet je končan",
  rate: "Kako smo se odrezali?",
  stars: {
    one: "{n} zvezdica",
    two: "{n} zvezdici",
    few: "{n} zvezdice",
    other: "{n} zvezdic",
  },
  comment: "Komentar (neobvezno)",
  submitRating: "Pošlji oceno",
  thanks: "Hvala za vaše mnenje!",
  prechat: "Preden začnemo, nam povejte, kdo ste",
  name: "Vaše ime",
  email: "E-pošta",
  phone: "Telefon",
  order: "Številka naročila",
  required: "Izpolnite obvezna polja.",
  start: "Začni klepet",
  away: "Trenutno nismo dosegljivi",
  awayText: "Pustite sporočilo in odgovorili vam bomo po e-pošti.",
  message: "Sporočilo",
  sendMessage: "Pošlji sporočilo",
  sent: "Hvala! Odgovorili vam bomo po e-pošti.",
  sendFailed: "Pošiljanje ni uspelo. Poskusite znova.",
  help: "Članki pomoči",
  search: "Iščite po člankih pomoči",
  noResults: "Ni zadetkov",
  back: "Nazaj na klepet",
  credits: {
    one: "Še {n} kredit za podporo",
    two: "Še {n} kredita za podporo",
    few: "Še {n} krediti za podporo",
    other: "Še {n} kreditov za podporo",
  },
  noCredits: "Nimate več kreditov za podporo.",
  buy: "Kupite več",
  reconnecting: "Ponovno povezovanje…",
  netOffline: "Niste povezani. Sporočila bomo poslali, ko boste spet povezani.",
  ended: "Vaša seja klepeta je potekla.",
  retry: "Poveži znova",
  newReply: "Novo sporočilo",
  welcome: "Pozdravljeni! Tukaj nas lahko vprašate karkoli.",
  replySoon: "Običajno odgovorimo v manj kot minuti.",
  replyIn: "Predviden čas do odgovora: {eta}.",
  endChat: "Končaj klepet",
  endAsk: "Želite končati klepet?",
  cancel: "Prekliči",
  popular: "Priljubljeni članki",
};

const lt = {
  title: "Parašykite mums",
  open: "Atidaryti pokalbį",
  close: "Uždaryti pokalbį",
  unread: {
    one: "{n} neperskaityta žinutė",
    few: "{n} neperskaitytos žinutės",
    many: "{n} neperskaitytos žinutės",
    other: "{n} neperskaitytų žinučių",
  },
  you: "Jūs",
  bot: "Botas",
  agent: "Konsultantas",
  messages: "Žinutės",
  placeholder: "Rašykite žinutę…",
  send: "Siųsti",
  human: "Noriu kalbėti su žmogumi",
  seen: "Perskaityta",
  queued: "Bus išsiųsta, kai vėl prisijungsite",
  failed: "Neišsiųsta",
  typing: "{name} rašo…",
  ahead: {
    one: "Prieš jus yra {n} žmogus",
    few: "Prieš jus yra {n} žmonės",
    many: "Prieš jus yra {n} žmogaus",
    other: "Prieš jus yra {n} žmonių",
  },
  next: "Prieš jus nieko nėra",
  wait: {
    one: "apie {n} minutę",
    few: "apie {n} minutes",
    many: "apie {n} minutės",
    other: "apie {n} minučių",
  },
  soon: "mažiau nei minutė",
  waitLabel: "Numatomas laukimo laikas: {eta}",
  joined: "{name} prisijungė prie pokalbio",
  left: "Konsultantas paliko pokalbį",
  requeued: "Jūs vėl eilėje",
  transferred: "Jus perduodame kolegai",
  closed: "Pokalbis baigtas",
  rate: "Kaip mums sekėsi?",
  stars: {
    one: "{n} žvaigždutė",
    few: "{n} žvaigždutės",
    many: "{n} žvaigždutės",
    other: "{n} žvaigždučių",
  },
  comment: "Komentaras (neprivaloma)",
  submitRating: "Siųsti įvertinimą",
  thanks: "Ačiū už atsiliepimą!",
  prechat: "Prieš pradėdami, prisistatykite",
  name: "Jūsų vardas",
  email: "El. paštas",
  phone: "Telefonas",
  order: "Užsakymo numeris",
  required: "Užpildykite privalomus laukus.",
  start: "Pradėti pokalbį",
  away: "Šiuo metu nesame pasiekiami",
  awayText: "Palikite žinutę ir atsakysime el. paštu.",
  message: "Žinutė",
  sendMessage: "Siųsti žinutę",
  sent: "Ačiū! Atsakysime el. paštu.",
  sendFailed: "Nepavyko išsiųsti. Bandykite dar kartą.",
  help: "Pagalbos straipsniai",
  search: "Ieškoti pagalbos straipsniuose",
  noResults: "Nieko nerasta",
  back: "Atgal į pokalbį",
  credits: {
    one: "Liko {n} pagalbos kreditas",
    few: "Liko {n} pagalbos kreditai",
    many: "Liko {n} pagalbos kredito",
    other: "Liko {n} pagalbos kreditų",
  },
  noCredits: "Nebeturite pagalbos kreditų.",
  buy: "Pirkti daugiau",
  reconnecting: "Jungiamasi iš naujo…",
  netOffline: "Esate neprisijungę. Žinutės bus išsiųstos, kai prisijungsite.",
  ended: "Pokalbio sesija baigėsi.",
  retry: "Prisijungti iš naujo",
  newReply: "Nauja žinutė",
  welcome: "Sveiki! Čia galite mūsų klausti bet ko.",
  replySoon: "Paprastai atsakome greičiau nei per minutę.",
  replyIn: "Numatomas atsakymo laikas: {eta}.",
  endChat: "Baigti pokalbį",
  endAsk: "Baigti šį pokalbį?",
  cancel: "Atšaukti",
  popular: "Populiarūs straipsniai",
};

const ro = {
  title: "Scrieți-ne",
  open: "Deschide chatul",
  close: "Închide chatul",
  unread: {
    one: "{n} mesaj necitit",
    few: "{n} mesaje necitite",
    other: "{n} de mesaje necitite",
  },
  you: "Dvs.",
  bot: "Bot",
  agent: "Operator",
  messages: "Mesaje",
  placeholder: "Scrieți un mesaj…",
  send: "Trimite",
  human: "Vreau să vorbesc cu o persoană",
  seen: "Văzut",
  queued: "Va fi trimis când reveniți online",
  failed: "Netrimis",
  typing: "{name} scrie…",
  ahead: {
    one: "{n} persoană înaintea dvs.",
    few: "{n} persoane înaintea dvs.",
    other: "{n} de persoane înaintea dvs.",
  },
  next: "Urmați la rând",
  wait: {
    one: "aproximativ {n} minut",
    few: "aproximativ {n} minute",
    other: "aproximativ {n} de minute",
  },
  soon: "mai puțin de un minut",
  waitLabel: "Timp estimat de așteptare: {eta}",
  joined: "{name} s-a alăturat conversației",
  left: "Operatorul a părăsit conversația",
  requeued: "Sunteți din nou la rând",
  transferred: "Vă transferăm către un coleg",
  closed: "Conversația s-a încheiat",
  rate: "Cum ne-am descurcat?",
  stars: { one: "{n} stea", few: "{n} stele", other: "{n} de stele" },
  comment: "Comentariu (opțional)",
  submitRating: "Trimite evaluarea",
  thanks: "Vă mulțumim pentru părere!",
  prechat: "Înainte de a începe, spuneți-ne cine sunteți",
  name: "Numele dvs.",
  email: "E-mail",
  phone: "Telefon",
  order: "Numărul comenzii",
  required: "Completați câmpurile obligatorii.",
  start: "Începe conversația",
  away: "Momentan nu suntem disponibili",
  awayText: "Lăsați un mesaj și vă vom răspunde prin e-mail.",
  message: "Mesaj",
  sendMessage: "Trimite mesajul",
  sent: "Mulțumim! Vă vom răspunde prin e-mail.",
  sendFailed: "Trimiterea a eșuat. Încercați din nou.",
  help: "Articole de ajutor",
  search: "Căutați în articolele de ajutor",
  noResults: "Niciun rezultat",
  back: "Înapoi la conversație",
  credits: {
    one: "A mai rămas {n} credit de asistență",
    few: "Au mai rămas {n} credite de asistență",
    other: "Au mai rămas {n} de credite de asistență",
  },
  noCredits: "Nu mai aveți credite de asistență.",
  buy: "Cumpărați mai multe",
  reconnecting: "Se reconectează…",
  netOffline: "Sunteți offline. Mesajele vor fi trimise când reveniți.",
  ended: "Sesiunea de chat s-a încheiat.",
  retry: "Reconectare",
  newReply: "Mesaj nou",
  welcome: "Bună! Ne puteți întreba orice aici.",
  replySoon: "De obicei răspundem în mai puțin de un minut.",
  replyIn: "Timp estimat de răspuns: {eta}.",
  endChat: "Încheie conversația",
  endAsk: "Încheiați conversația?",
  cancel: "Anulează",
  popular: "Articole populare",
};

const ru = {
  title: "Напишите нам",
  open: "Открыть чат",
  close: "Закрыть чат",
  unread: {
    one: "{n} непрочитанное сообщение",
    few: "{n} непрочитанных сообщения",
    many: "{n} непрочитанных сообщений",
    other: "{n} непрочитанного сообщения",
  },
  you: "Вы",
  bot: "Бот",
  agent: "Оператор",
  messages: "Сообщения",
  placeholder: "Напишите сообщение…",
  send: "Отправить",
  human: "Позовите человека",
  seen: "Прочитано",
  queued: "Будет отправлено, когда связь восстановится",
  failed: "Не отправлено",
  typing: "{name} печатает…",
  ahead: {
    one: "Перед вами {n} человек",
    few: "Перед вами {n} человека",
    many: "Перед вами {n} человек",
    other: "Перед вами {n} человека",
  },
  next: "Перед вами никого нет",
  wait: {
    one: "примерно {n} минута",
    few: "примерно {n} минуты",
    many: "примерно {n} минут",
    other: "примерно {n} минуты",
  },
  soon: "меньше минуты",
  waitLabel: "Ожидание: {eta}",
  joined: "{name} теперь в чате",
  left: "Оператор покинул чат",
  requeued: "Вы снова в очереди",
  transferred: "Мы передаём разговор коллеге",
  closed: "Чат завершён",
  rate: "Как мы справились?",
  stars: { one: "{n} звезда", few: "{n} звезды", many: "{n} звёзд", other: "{n} звезды" },
  comment: "Комментарий (необязательно)",
  submitRating: "Отправить оценку",
  thanks: "Спасибо за отзыв!",
  prechat: "Прежде чем начать, представьтесь",
  name: "Ваше имя",
  email: "Эл. почта",
  phone: "Телефон",
  order: "Номер заказа",
  required: "Заполните обязательные поля.",
  start: "Начать чат",
  away: "Сейчас нас нет на месте",
  awayText: "Оставьте сообщение, и мы ответим по электронной почте.",
  message: "Сообщение",
  sendMessage: "Отправить сообщение",
  sent: "Спасибо! Мы ответим вам по электронной почте.",
  sendFailed: "Не удалось отправить. Попробуйте ещё раз.",
  help: "Справочные статьи",
  search: "Поиск по справке",
  noResults: "Ничего не найдено",
  back: "Назад к чату",
  credits: {
    one: "Остался {n} кредит поддержки",
    few: "Осталось {n} кредита поддержки",
    many: "Осталось {n} кредитов поддержки",
    other: "Осталось {n} кредита поддержки",
  },
  noCredits: "У вас не осталось кредитов поддержки.",
  buy: "Купить ещё",
  reconnecting: "Переподключение…",
  netOffline: "Нет связи. Сообщения будут отправлены, когда связь появится.",
  ended: "Сеанс чата завершён.",
  retry: "Подключиться снова",
  newReply: "Новое сообщение",
  welcome: "Здравствуйте! Задайте здесь любой вопрос.",
  replySoon: "Обычно мы отвечаем меньше чем за минуту.",
  replyIn: "Примерное время ответа: {eta}.",
  endChat: "Завершить чат",
  endAsk: "Завершить этот чат?",
  cancel: "Отмена",
  popular: "Популярные статьи",
};

const srLatn = {
  title: "Pišite nam",
  open: "Otvori čet",
  close: "Zatvori čet",
  unread: {
    one: "{n} nepročitana poruka",
    few: "{n} nepročitane poruke",
    other: "{n} nepročitanih poruka",
  },
  you: "Vi",
  bot: "Bot",
  agent: "Operater",
  messages: "Poruke",
  placeholder: "Napišite poruku…",
  send: "Pošalji",
  human: "Želim da razgovaram sa osobom",
  seen: "Viđeno",
  queued: "Biće poslato kada ponovo budete na mreži",
  failed: "Nije poslato",
  typing: "{name} piše…",
  ahead: {
    one: "Ispred vas je {n} osoba",
    few: "Ispred vas su {n} osobe",
    other: "Ispred vas je {n} osoba",
  },
  next: "Ispred vas nema nikoga",
  wait: {
    one: "približno {n} minut",
    few: "približno {n} minuta",
    other: "približno {n} minuta",
  },
  soon: "manje od minut",
  waitLabel: "Očekivano čekanje: {eta}",
  joined: "{name} je sada u razgovoru",
  left: "Operater je napustio razgovor",
  requeued: "Ponovo ste u redu",
  transferred: "Prebacujemo vas kolegi",
  closed: "Razgovor je završen",
  rate: "Kako smo bili?",
  stars: { one: "{n} zvezdica", few: "{n} zvezdice", other: "{n} zvezdica" },
  comment: "Komentar (nije obavezno)",
  submitRating: "Pošalji ocenu",
  thanks: "Hvala na oceni!",
  prechat: "Pre nego što počnemo, recite nam ko ste",
  name: "Vaše ime",
  email: "Imejl",
  phone: "Telefon",
  order: "Broj porudžbine",
  required: "Popunite obavezna polja.",
  start: "Započni razgovor",
  away: "Trenutno nismo dostupni",
  awayText: "Ostavite poruku i odgovorićemo vam imejlom.",
  message: "Poruka",
  sendMessage: "Pošalji poruku",
  sent: "Hvala! Odgovorićemo vam imejlom.",
  sendFailed: "Slanje nije uspelo. Pokušajte ponovo.",
  help: "Članci pomoći",
  search: "Pretražite članke pomoći",
  noResults: "Nema rezultata",
  back: "Nazad na razgovor",
  credits: {
    one: "Preostao je {n} kredit za podršku",
    few: "Preostala su {n} kredita za podršku",
    other: "Preostalo je {n} kredita za podršku",
  },
  noCredits: "Nemate više kredita za podršku.",
  buy: "Kupite još",
  reconnecting: "Ponovno povezivanje…",
  netOffline: "Niste na mreži. Poruke će biti poslate kada se povežete.",
  ended: "Vaša sesija je istekla.",
  retry: "Poveži ponovo",
  newReply: "Nova poruka",
  welcome: "Zdravo! Ovde nas možete pitati bilo šta.",
  replySoon: "Obično odgovaramo za manje od minut.",
  replyIn: "Očekivano vreme odgovora: {eta}.",
  endChat: "Završi razgovor",
  endAsk: "Završiti ovaj razgovor?",
  cancel: "Otkaži",
  popular: "Popularni članci",
};

// Digraphs come first in the walk below; {placeholders} are left as they are.
const CYR = {
  dž: "џ", lj: "љ", nj: "њ", a: "а", b: "б", c: "ц", č: "ч", ć: "ћ", d: "д", đ: "ђ", e: "е",
  f: "ф", g: "г", h: "х", i: "и", j: "ј", k: "к", l: "л", m: "м", n: "н", o: "о", p: "п",
  r: "р", s: "с", š: "ш", t: "т", u: "у", v: "в", z: "з", ž: "ж",
};

export function toCyrillic(text) {
  let out = "";
  for (let i = 0; i < text.length; ) {
    if (text[i] === "{") {
      const end = text.indexOf("}", i) + 1;
      out += text.slice(i, end);
      i = end;
      continue;
    }
    const pair = text.slice(i, i + 2);
    const two = pair.length === 2 && CYR[pair.toLowerCase()];
    const ch = text[i];
    const one = two || CYR[ch.toLowerCase()];
    const upper = ch !== ch.toLowerCase();
    out += one ? (upper ? one.toUpperCase() : one) : ch;
    i += two ? 2 : 1;
  }
  return out;
}

function cyrillic(table) {
  const out = {};
  for (const [key, value] of Object.entries(table)) {
    out[key] =
      typeof value === "string"
        ? toCyrillic(value)
        : Object.fromEntries(Object.entries(value).map(([c, s]) => [c, toCyrillic(s)]));
  }
  return out;
}

const TABLES = { en, sl, lt, ro, ru, "sr-Latn": srLatn, "sr-Cyrl": cyrillic(srLatn) };

/** The supported language for a BCP 47 tag, or null. Bare "sr" is Cyrillic, as in CLDR. */
export function matchLang(tag) {
  if (!tag) return null;
  const lower = String(tag).toLowerCase().replace(/_/g, "-");
  const base = lower.split("-")[0];
  if (base === "sr" || base === "sh") {
    if (lower.includes("latn") || base === "sh") return "sr-Latn";
    if (lower.includes("cyrl")) return "sr-Cyrl";
    // Montenegro and Bosnia write Serbian in Latin by default (CLDR likely subtags).
    return /-(me|ba)\b/.test(lower) ? "sr-Latn" : "sr-Cyrl";
  }
  return LANGS.includes(base) ? base : null;
}

/** data-lang, else <html lang>, else the browser's languages, else English. */
export function chooseLang(dataLang, htmlLang, browserLangs) {
  for (const tag of [dataLang, htmlLang, ...(browserLangs || [])]) {
    const found = matchLang(tag);
    if (found) return found;
  }
  return "en";
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** A translator bound to one language: t(key, vars) and t(key, {n}) for counted phrases. */
export function translator(lang) {
  const table = TABLES[lang] || en;
  const rules = new Intl.PluralRules(lang);
  return function t(key, vars = {}) {
    let phrase = table[key] ?? en[key] ?? key;
    if (typeof phrase === "object") {
      phrase = phrase[rules.select(vars.n)] ?? phrase.other;
    }
    return fill(phrase, vars);
  };
}
