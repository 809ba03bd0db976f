// The lead of an inbound mail: forwarded header blocks of the common mail clients (in several
// languages), nested forwards, quoted history and signatures. Works on `message` values only.
#include "domain/mail/lead.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

namespace {

// Lines searched for forwarded header blocks, and nesting followed.
constexpr std::size_t max_scan_lines = 4000;
constexpr int max_forward_depth = 6;

using lines_t = std::vector<std::string>;

bool blank(std::string_view s) { return trim(s).empty(); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// Text with one line-ending convention, non-breaking and zero-width spaces made plain.
std::string normalize(std::string_view text) {
  if (text.size() > max_scan_bytes) text = text.substr(0, max_scan_bytes);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const std::string_view rest = text.substr(i);
    if (c == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (starts_with(rest, "\xC2\xA0")) {
      out += ' ';
      ++i;
    } else if (starts_with(rest, "\xE2\x80\xAF") || starts_with(rest, "\xE2\x80\x87") ||
               starts_with(rest, "\xE2\x80\x89")) {
      out += ' ';
      i += 2;
    } else if (starts_with(rest, "\xE2\x80\x8B") || starts_with(rest, "\xE2\x80\x8C") ||
               starts_with(rest, "\xE2\x80\x8D") || starts_with(rest, "\xE2\x80\x8E") ||
               starts_with(rest, "\xE2\x80\x8F") || starts_with(rest, "\xEF\xBB\xBF")) {
      i += 2;
    } else if (c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

lines_t split_lines(std::string_view text) {
  lines_t out;
  std::size_t start = 0;
  while (start <= text.size() && out.size() < 20000) {
    const std::size_t e = text.find('\n', start);
    if (e == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      break;
    }
    out.emplace_back(text.substr(start, e - start));
    start = e + 1;
  }
  return out;
}

int quote_level(std::string_view line) {
  int level = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == '>') {
      ++level;
      ++i;
    } else if (line[i] == ' ' && i + 1 < line.size() && line[i + 1] == '>') {
      ++i;
    } else {
      break;
    }
  }
  return level;
}

std::string strip_quote(std::string_view line, int levels) {
  for (int l = 0; l < levels; ++l) {
    std::size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '>') {
      line.remove_prefix(i + 1);
      if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    } else {
      break;
    }
  }
  return std::string(line);
}

// ---- addresses -------------------------------------------------------------------------------

bool local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}
bool domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

struct found_address {
  std::size_t begin = 0, end = 0;
  std::string address;
};

/// The first plausible address in `s` (local@domain.tld), or nothing.
std::optional<found_address> find_address(std::string_view s) {
  std::size_t from = 0;
  while (true) {
    const std::size_t at = s.find('@', from);
    if (at == std::string_view::npos) return std::nullopt;
    from = at + 1;
    std::size_t b = at;
    while (b > 0 && local_char(s[b - 1]) && at - b < 64) --b;
    while (b < at && (s[b] == '.' || s[b] == '\'')) ++b;
    std::size_t e = at + 1;
    while (e < s.size() && domain_char(s[e]) && e - at < 255) ++e;
    while (e > at + 1 && (s[e - 1] == '.' || s[e - 1] == '-')) --e;
    if (b == at || e == at + 1) continue;
    const std::string_view domain = s.substr(at + 1, e - at - 1);
    const std::size_t dot = domain.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || domain.size() - dot < 3) continue;
    std::string local(s.substr(b, at - b));
    // "mailto:anna@x" has no ':' in the local part, so the scan stops there already.
    return found_address{b, e, local + "@" + ascii_lower(domain)};
  }
}

std::string normalize_address(std::string_view a) {
  if (auto f = find_address(a)) return f->address;
  return {};
}

bool same_address(std::string_view a, std::string_view b) {
  return !a.empty() && ascii_lower(a) == ascii_lower(b);
}

std::string domain_of(std::string_view a) {
  const std::size_t at = a.rfind('@');
  return at == std::string_view::npos ? std::string() : ascii_lower(a.substr(at + 1));
}

std::string strip_decoration(std::string_view s) {
  s = trim(s);
  bool changed = true;
  while (changed && !s.empty()) {
    changed = false;
    for (char q : {'"', '\'', '*', '_', ','}) {
      if (!s.empty() && s.front() == q) {
        s.remove_prefix(1);
        changed = true;
      }
      if (!s.empty() && s.back() == q) {
        s.remove_suffix(1);
        changed = true;
      }
    }
    s = trim(s);
  }
  return std::string(s);
}

/// "Anna Weber <anna@x.de>", "Anna Weber [mailto:anna@x.de]", "anna@x.de (Anna Weber)", "Anna".
mailbox parse_sender(std::string_view value) {
  mailbox m;
  value = trim(value);
  auto f = find_address(value);
  if (!f) {
    m.name = strip_decoration(value);
    return m;
  }
  m.address = f->address;
  std::size_t cut = f->begin;
  for (std::string_view open : {"<", "[", "(", "mailto:"}) {
    const std::size_t p = value.find(open);
    if (p != std::string_view::npos && p < cut) cut = p;
  }
  std::string name = strip_decoration(value.substr(0, cut));
  if (name.empty()) {
    // "anna@x.de (Anna Weber)"
    const std::size_t open = value.find('(', f->end);
    const std::size_t close = value.find(')', open == std::string_view::npos ? 0 : open);
    if (open != std::string_view::npos && close != std::string_view::npos)
      name = strip_decoration(value.substr(open + 1, close - open - 1));
  }
  if (name.find('@') != std::string::npos) name.clear();
  m.name = name;
  return m;
}

// ---- forwarded header blocks -----------------------------------------------------------------

enum class field { from, date, sent, to, cc, subject, reply_to };

struct label {
  std::string_view text;  // lower case
  field f;
  std::string_view language;  // empty: shared by several languages
};

constexpr label labels[] = {
    {"from", field::from, "en"}, {"von", field::from, "de"}, {"de", field::from, ""},
    {"da", field::from, "it"}, {"van", field::from, "nl"}, {"absender", field::from, "de"},
    {"expéditeur", field::from, "fr"}, {"remitente", field::from, "es"}, {"mittente", field::from, "it"},
    {"afzender", field::from, "nl"}, {"remetente", field::from, "pt"},
    {"sent", field::sent, "en"}, {"gesendet", field::sent, "de"}, {"envoyé", field::sent, "fr"},
    {"envoyé le", field::sent, "fr"}, {"enviado el", field::sent, "es"}, {"enviado", field::sent, ""},
    {"enviada", field::sent, "pt"}, {"inviato", field::sent, "it"}, {"verzonden", field::sent, "nl"},
    {"verstuurd", field::sent, "nl"}, {"sent on", field::sent, "en"},
    {"date", field::date, ""}, {"datum", field::date, ""}, {"fecha", field::date, "es"},
    {"data", field::date, ""}, {"date de l'envoi", field::date, "fr"},
    {"to", field::to, "en"}, {"an", field::to, "de"}, {"à", field::to, "fr"}, {"a", field::to, ""},
    {"para", field::to, ""}, {"aan", field::to, "nl"}, {"destinataire", field::to, "fr"},
    {"destinatario", field::to, ""}, {"pour", field::to, "fr"},
    {"cc", field::cc, ""}, {"kopie", field::cc, "de"},
    {"subject", field::subject, "en"}, {"betreff", field::subject, "de"}, {"objet", field::subject, "fr"},
    {"asunto", field::subject, "es"}, {"oggetto", field::subject, "it"}, {"onderwerp", field::subject, "nl"},
    {"assunto", field::subject, "pt"}, {"sujet", field::subject, "fr"},
    {"reply-to", field::reply_to, "en"}, {"antwort an", field::reply_to, "de"},
    {"répondre à", field::reply_to, "fr"}, {"responder a", field::reply_to, "es"},
    {"rispondi a", field::reply_to, "it"}, {"antwoord aan", field::reply_to, "nl"},
};

struct labelled {
  field f;
  std::string_view language;
  std::string value;
};

/// "From: x", "*From:* x", "**Von:** x", "De : x" -> the field and its value.
std::optional<labelled> read_label(std::string_view line) {
  std::string_view s = trim(line);
  while (!s.empty() && (s.front() == '*' || s.front() == '_')) s.remove_prefix(1);
  s = trim(s);
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 24) return std::nullopt;
  std::string_view name = s.substr(0, colon);
  while (!name.empty() && (name.back() == '*' || name.back() == ' ' || name.back() == '_')) name.remove_suffix(1);
  const std::string lower = ascii_lower(name);
  // Upper-case non-ASCII letters in labels ("À") are lowered by hand.
  std::string key = lower;
  if (starts_with(key, "\xC3\x80")) key = "\xC3\xA0" + key.substr(2);
  for (const auto& l : labels) {
    if (key != l.text) continue;
    std::string_view value = s.substr(colon + 1);
    while (!value.empty() && (value.front() == '*' || value.front() == ' ' || value.front() == '_'))
      value.remove_prefix(1);
    return labelled{l.f, l.language, std::string(trim(value))};
  }
  return std::nullopt;
}

struct header_block {
  std::size_t begin = 0;  // first line of the block (the marker line when there is one)
  std::size_t end = 0;    // first line after the header fields
  int quote = 0;          // '>' levels the forwarded text carries (Apple Mail's plain text)
  mail_format format = mail_format::generic;
  std::string language;
  bool has_from = false, has_sent = false, has_date = false, has_to = false, has_subject = false;
  std::string from, to, reply_to, subject;
  std::string subject_language, sent_language, from_language;
};

struct marker {
  mail_format format;
  std::string_view language;
  bool strong;  // a forward for sure, even with no header fields after it
};

/// The phrase between runs of dashes: "---------- Forwarded message ---------" -> "forwarded message".
std::optional<std::pair<std::string, std::size_t>> dashed_phrase(std::string_view line) {
  std::string_view s = trim(line);
  std::size_t lead = 0;
  while (lead < s.size() && s[lead] == '-') ++lead;
  std::size_t tail = 0;
  while (tail < s.size() - lead && s[s.size() - 1 - tail] == '-') ++tail;
  if (lead < 3 || tail < 3 || lead + tail >= s.size()) return std::nullopt;
  std::string phrase = ascii_lower(trim(s.substr(lead, s.size() - lead - tail)));
  return std::make_pair(phrase, lead);
}

struct phrase {
  std::string_view text;
  std::string_view language;
};

constexpr phrase forward_phrases[] = {
    {"forwarded message", "en"},     {"weitergeleitete nachricht", "de"}, {"message transféré", "fr"},
    {"mensaje reenviado", "es"},     {"messaggio inoltrato", "it"},       {"doorgestuurd bericht", "nl"},
    {"mensagem encaminhada", "pt"},  {"mensagem reencaminhada", "pt"},    {"message transfere", "fr"},
};

constexpr phrase original_phrases[] = {
    {"original message", "en"},     {"ursprüngliche nachricht", "de"}, {"message d'origine", "fr"},
    {"mensaje original", "es"},     {"messaggio originale", "it"},     {"oorspronkelijk bericht", "nl"},
    {"mensagem original", "pt"},    {"originalnachricht", "de"},
};

constexpr phrase apple_phrases[] = {
    {"begin forwarded message", "en"},            {"anfang der weitergeleiteten nachricht", "de"},
    {"début du message réexpédié", "fr"},          {"début du message transféré", "fr"},
    {"inicio del mensaje reenviado", "es"},       {"comienzo del mensaje reenviado", "es"},
    {"inizio messaggio inoltrato", "it"},         {"inizio del messaggio inoltrato", "it"},
    {"begin doorgestuurd bericht", "nl"},         {"doorgestuurd bericht begint", "nl"},
    {"início da mensagem reencaminhada", "pt"},    {"início da mensagem encaminhada", "pt"},
    {"começo da mensagem encaminhada", "pt"},
};

std::optional<marker> read_marker(std::string_view line) {
  const std::string_view t = trim(line);
  if (t.empty() || t.size() > 120) return std::nullopt;
  if (auto d = dashed_phrase(t)) {
    for (const auto& p : forward_phrases) {
      if (d->first != p.text) continue;
      // Gmail writes ten dashes, Thunderbird eight, Yahoo five.
      if (d->second >= 9) return marker{mail_format::gmail, p.language, true};
      if (d->second >= 6) return marker{mail_format::thunderbird, p.language, true};
      return marker{mail_format::generic, p.language, true};
    }
    for (const auto& p : original_phrases)
      if (d->first == p.text) return marker{mail_format::outlook, p.language, true};
    if (starts_with(d->first, "forwarded by")) return marker{mail_format::generic, "en", true};
    return std::nullopt;
  }
  std::string lower = ascii_lower(t);
  while (!lower.empty() && (lower.back() == ':' || lower.back() == ' ')) lower.pop_back();
  for (const auto& p : apple_phrases)
    if (lower == p.text) return marker{mail_format::apple_mail, p.language, true};
  // Outlook's rule line above a reply or forward header.
  if (t.size() >= 10 && t.find_first_not_of('_') == std::string_view::npos)
    return marker{mail_format::outlook, "", false};
  return std::nullopt;
}

/// Reads header fields from line `i` on; the block ends at the first line that is neither a field
/// nor a wrapped To/Cc value (one blank line between fields is skipped: HTML paragraphs).
void read_fields(const lines_t& lines, std::size_t i, int quote, header_block& b) {
  std::optional<field> last;
  std::size_t fields = 0;
  std::size_t j = i;
  const std::size_t limit = std::min(lines.size(), i + 40);
  while (j < limit) {
    const std::string line = strip_quote(lines[j], quote);
    if (blank(line)) {
      if (fields == 0) {
        ++j;
        continue;
      }
      std::size_t k = j + 1;
      while (k < limit && k <= j + 2 && blank(strip_quote(lines[k], quote))) ++k;
      if (k < limit && k <= j + 2 && read_label(strip_quote(lines[k], quote))) {
        j = k;
        continue;
      }
      break;
    }
    auto l = read_label(line);
    if (!l) {
      if (fields > 0 && last && (*last == field::to || *last == field::cc) &&
          (line.find('@') != std::string::npos || line.find(';') != std::string::npos)) {
        ++j;
        continue;
      }
      break;
    }
    if (l->f == field::from && b.has_from) break;  // a second From starts another block
    // The value may sit on the next line ("From:" and the name in separate table cells or
    // paragraphs), or a long From may wrap before its "<address>".
    if (j + 1 < limit) {
      const std::string next = strip_quote(lines[j + 1], quote);
      const bool continues = !blank(next) && !read_label(next) && trim(next).size() < 120;
      if (continues && (l->value.empty() ||
                        (l->f == field::from && !find_address(l->value) && find_address(next)))) {
        l->value = std::string(trim(l->value.empty() ? next : l->value + " " + next));
        ++j;
      }
    }
    ++fields;
    last = l->f;
    switch (l->f) {
      case field::from:
        b.has_from = true;
        b.from = l->value;
        b.from_language = l->language;
        break;
      case field::sent:
        b.has_sent = true;
        b.sent_language = l->language;
        break;
      case field::date: b.has_date = true; break;
      case field::to:
        if (!b.has_to) b.to = l->value;
        b.has_to = true;
        break;
      case field::cc: break;
      case field::subject:
        if (!b.has_subject) {
          b.subject = l->value;
          b.subject_language = l->language;
        }
        b.has_subject = true;
        break;
      case field::reply_to: b.reply_to = l->value; break;
    }
    ++j;
  }
  b.end = j;
}

int first_quote_level(const lines_t& lines, std::size_t i) {
  for (std::size_t k = i; k < lines.size() && k < i + 4; ++k)
    if (!blank(lines[k])) return quote_level(lines[k]);
  return 0;
}

/// The first forwarded header block in lines [from, to). `loose`: a From field with an address and
/// one other field is enough (the subject says the mail is forwarded).
std::optional<header_block> find_block(const lines_t& lines, std::size_t from, std::size_t to, bool loose) {
  to = std::min({to, lines.size(), from + max_scan_lines});
  for (std::size_t i = from; i < to; ++i) {
    const std::string& line = lines[i];
    if (blank(line)) continue;
    // An HTML forward inside <blockquote> carries its marker quoted too.
    if (auto m = read_marker(strip_quote(line, quote_level(line)))) {
      header_block b;
      b.begin = i;
      b.format = m->format;
      b.language = std::string(m->language);
      // Apple Mail quotes the forwarded message in plain text ("> From: ...").
      b.quote = first_quote_level(lines, i + 1);
      read_fields(lines, i + 1, b.quote, b);
      if (b.has_from || m->strong) {
        if (!b.has_from) b.end = i + 1;
        return b;
      }
      continue;
    }
    if (quote_level(line) > 0) continue;  // quoted history is not where a forward header starts
    auto l = read_label(line);
    if (!l || l->f != field::from) continue;
    header_block b;
    b.begin = i;
    read_fields(lines, i, 0, b);
    const bool strong = b.has_from && (b.has_sent || b.has_date) && (b.has_subject || b.has_to);
    const bool weak = b.has_from && find_address(b.from) && (b.has_sent || b.has_date || b.has_subject || b.has_to);
    if (strong || (loose && weak)) {
      b.format = b.has_sent ? mail_format::outlook : mail_format::generic;
      // An Outlook rule line right above belongs to the block.
      if (i > 0 && read_marker(lines[i - 1])) b.begin = i - 1;
      return b;
    }
  }
  return std::nullopt;
}

std::string block_language(const header_block& b) {
  if (!b.language.empty()) return b.language;
  if (!b.subject_language.empty()) return b.subject_language;
  if (!b.sent_language.empty()) return b.sent_language;
  return b.from_language;
}

// ---- quoted history and signatures -----------------------------------------------------------

/// "On Mon, 4 Mar 2024 at 10:15, Anna <a@x.de> wrote:" and its translations.
bool reply_header(std::string_view line) {
  const std::string l = ascii_lower(trim(line));
  if (l.size() > 300 || l.empty()) return false;
  static constexpr std::array<std::string_view, 9> starts = {"on ", "am ", "le ", "el ", "il ", "op ", "em ",
                                                             "à ", "den "};
  static constexpr std::array<std::string_view, 13> ends = {
      "wrote:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "ha scritto:", "schreef:", "escreveu:",
      "geschrieben:", "writes:", "wrote :", "escribio:", "schreef het volgende:"};
  bool start = false;
  for (auto s : starts) start = start || starts_with(l, s);
  bool end = false;
  for (auto e : ends) end = end || ends_with(l, e);
  return start && end;
}

bool history_starts(const lines_t& lines, std::size_t i) {
  if (read_marker(lines[i])) return true;
  if (reply_header(lines[i])) return true;
  // Gmail wraps long reply headers over two lines.
  if (i + 1 < lines.size() && !blank(lines[i + 1]) && reply_header(lines[i] + " " + lines[i + 1])) return true;
  if (auto l = read_label(lines[i]); l && l->f == field::from) {
    header_block b;
    read_fields(lines, i, 0, b);
    return (b.has_sent || b.has_date) && (b.has_subject || b.has_to);
  }
  return false;
}

/// The lines of the original text: up to quoted history or an older forward, without '>' lines.
lines_t own_text(const lines_t& lines, std::size_t from, std::size_t to) {
  lines_t out;
  to = std::min(to, lines.size());
  for (std::size_t i = from; i < to; ++i) {
    if (history_starts(lines, i)) break;
    if (quote_level(lines[i]) > 0) continue;
    out.push_back(lines[i]);
  }
  while (!out.empty() && blank(out.back())) out.pop_back();
  std::size_t first = 0;
  while (first < out.size() && blank(out[first])) ++first;
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(first));
  return out;
}

constexpr std::string_view sign_offs[] = {
    "best regards", "kind regards", "regards", "best wishes", "best", "thanks", "thank you", "many thanks",
    "thanks again", "cheers", "sincerely", "yours sincerely", "yours faithfully", "warm regards", "warmest regards",
    "all the best", "mit freundlichen grüßen", "mit freundlichen grüssen", "mit freundlichem gruß",
    "freundliche grüße", "freundliche grüsse", "viele grüße", "viele grüsse", "beste grüße", "liebe grüße",
    "herzliche grüße", "gruß", "grüße", "schöne grüße", "danke", "vielen dank", "cordialement",
    "bien cordialement", "bien à vous", "salutations", "meilleures salutations", "sincères salutations",
    "merci", "merci d'avance", "saludos", "un saludo", "saludos cordiales", "atentamente", "gracias",
    "muchas gracias", "cordiali saluti", "distinti saluti", "saluti", "un saluto", "grazie", "grazie mille",
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "groeten", "groet",
    "hartelijke groet", "bedankt", "atenciosamente", "cumprimentos", "melhores cumprimentos", "abraço",
    "abraços", "obrigado", "obrigada", "com os melhores cumprimentos", "vänliga hälsningar", "med vänlig hälsning",
    "mvh", "hilsen", "med venlig hilsen", "med vennlig hilsen", "vennlig hilsen", "pozdrawiam", "s pozdravem",
};

constexpr std::string_view sent_from_device[] = {
    "sent from my", "von meinem", "envoyé de mon", "enviado desde mi", "inviato da", "verzonden vanaf mijn",
    "enviado do meu", "get outlook for", "holen sie sich outlook",
};

bool sign_off(std::string_view line) {
  std::string l = ascii_lower(trim(line));
  while (!l.empty() && (l.back() == ',' || l.back() == '!' || l.back() == '.' || l.back() == ' ')) l.pop_back();
  for (auto s : sign_offs)
    if (l == s) return true;
  return false;
}

bool device_line(std::string_view line) {
  const std::string l = ascii_lower(trim(line));
  for (auto s : sent_from_device)
    if (starts_with(l, s)) return true;
  return false;
}

bool signature_rule(std::string_view line) {
  const std::string_view t = trim(line);
  return line == "-- " || t == "--" || t == "\xE2\x80\x94" || t == "---" || t == "\xE2\x80\x93";
}

// ---- phones, companies, names in a signature -------------------------------------------------

std::size_t digit_count(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

/// The first phone-shaped run in `s`: + ( digits, spaces, - . / ), 7..15 digits.
std::string phone_in(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(c == '+' || c == '(' || (c >= '0' && c <= '9'))) continue;
    if (i > 0 && ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= 'A' && s[i - 1] <= 'Z'))) continue;
    std::size_t e = i;
    while (e < s.size() && std::string_view("0123456789 +()./-").find(s[e]) != std::string_view::npos) ++e;
    std::string_view run = s.substr(i, e - i);
    while (!run.empty() && std::string_view(" ./-(").find(run.back()) != std::string_view::npos) run.remove_suffix(1);
    const std::size_t digits = digit_count(run);
    if (digits >= 7 && digits <= 16) return std::string(run);
    i = e;
  }
  return {};
}

constexpr std::string_view phone_labels[] = {
    "tel", "tel.", "tele", "telephone", "phone", "ph", "ph.", "mobile", "mob", "mob.", "cell", "cell.",
    "t", "m", "p", "telefon", "fon", "handy", "mobil", "mobilnummer", "tél", "tél.", "téléphone", "portable",
    "port", "teléfono", "telefono", "tlf", "móvil", "movil", "cellulare", "cel", "telefoon", "mobiel",
    "telemóvel", "telefone", "celular", "direct", "office", "work", "whatsapp", "tel/fax", "phone number",
};

/// A phone from one signature segment: a labelled one ("Tel: ...", "M +49 ..."), or a segment that
/// is only a number.
std::string phone_of_segment(std::string_view segment, bool labelled_only) {
  std::string_view t = trim(segment);
  const std::string lower = ascii_lower(t);
  if (lower.find("fax") != std::string::npos && lower.find("tel") == std::string::npos) return {};
  for (auto lbl : phone_labels) {
    if (!starts_with(lower, lbl)) continue;
    const std::size_t after = lbl.size();
    if (after < lower.size() && lower[after] != ':' && lower[after] != ' ' && lower[after] != '.') continue;
    std::string p = phone_in(t.substr(after));
    if (!p.empty()) return p;
  }
  if (labelled_only) return {};
  std::string p = phone_in(t);
  // A line that is nothing but a number (dates have dots and 8 digits; keep them out).
  if (!p.empty() && p.size() + 2 >= t.size() && (p[0] == '+' || p[0] == '(' || p[0] == '0') &&
      digit_count(p) >= 8)
    return p;
  return {};
}

/// A phone from a signature line, which may hold several segments ("a@b.io | +1 512 555 0177").
std::string phone_of_line(std::string_view line, bool labelled_only) {
  std::size_t start = 0;
  while (start <= line.size()) {
    std::size_t e = line.size();
    std::size_t sep_size = 1;
    for (std::string_view sep : {"|", "\xC2\xB7", "\xE2\x80\xA2"}) {
      const std::size_t p = line.find(sep, start);
      if (p != std::string_view::npos && p < e) {
        e = p;
        sep_size = sep.size();
      }
    }
    std::string p = phone_of_segment(line.substr(start, e - start), labelled_only);
    if (!p.empty() || e == line.size()) return p;
    start = e + sep_size;
  }
  return {};
}

constexpr std::string_view legal_forms[] = {
    "GmbH", "AG", "KG", "UG", "e.K.", "OHG", "GbR", "mbH", "SE", "Ltd", "Ltd.", "Limited", "LLC", "L.L.C.", "Inc",
    "Inc.", "Corp", "Corp.", "Corporation", "PLC", "plc", "LLP", "SARL", "S.A.R.L.", "SAS", "S.A.S.", "SA", "S.A.",
    "S.L.", "SL", "S.L.U.", "S.p.A.", "SpA", "S.r.l.", "Srl", "SRL", "s.r.l.", "B.V.", "BV", "N.V.", "NV", "Lda",
    "Lda.", "Ltda", "Ltda.", "AB", "A/S", "Oy", "GmbH & Co. KG", "Co.", "S.C.", "(haftungsbeschränkt)", "eG", "e.V.",
    "KGaA", "Sp. z o.o.", "s.r.o.", "Unipessoal", "VOF", "CV", "AS", "ASA", "ApS", "Pty Ltd",
};

constexpr std::string_view company_labels[] = {
    "company:", "firma:", "société:", "société :", "empresa:", "azienda:", "bedrijf:", "organisation:",
    "organization:", "unternehmen:", "entreprise:", "entreprise :",
};

std::string company_of_line(std::string_view line) {
  std::string_view t = trim(line);
  if (t.size() > 160 || t.find('@') != std::string_view::npos) return {};
  const std::string lower = ascii_lower(t);
  for (auto lbl : company_labels)
    if (starts_with(lower, lbl)) return std::string(trim(t.substr(lbl.size())));
  // Japanese forms sit inside the name ("山田商事株式会社").
  for (std::string_view jp : {"\xE6\xA0\xAA\xE5\xBC\x8F\xE4\xBC\x9A\xE7\xA4\xBE", "\xE6\x9C\x89\xE9\x99\x90\xE4\xBC\x9A\xE7\xA4\xBE"})
    if (t.find(jp) != std::string_view::npos && t.find(' ') == std::string_view::npos) return std::string(t);
  // Segments: "Anna Weber | Weber Logistik GmbH | Berlin", "Weber Logistik GmbH, Hauptstr. 1".
  std::size_t start = 0;
  std::string_view previous;
  char previous_separator = 0;
  while (start <= t.size()) {
    std::size_t e = t.size();
    std::size_t sep_size = 1;
    for (std::string_view sep : {"|", ",", "\xC2\xB7", "\xE2\x80\xA2", " \xE2\x80\x93 ", " - "}) {
      const std::size_t p = t.find(sep, start);
      if (p != std::string_view::npos && p < e) {
        e = p;
        sep_size = sep.size();
      }
    }
    std::string_view seg = trim(t.substr(start, e - start));
    // "Dunder Mifflin Paper Company, Inc.": the form alone after a comma.
    if (previous_separator == ',' && !previous.empty())
      for (auto form : legal_forms)
        if (seg == form && digit_count(previous) == 0)
          return std::string(previous) + ", " + std::string(seg);
    // "GmbH & Co. KG" is a separator-free legal form; commas never split it.
    for (auto form : legal_forms) {
      if (seg.size() > form.size() + 1 && ends_with(seg, form) && seg[seg.size() - form.size() - 1] == ' ') {
        const std::string_view head = trim(seg.substr(0, seg.size() - form.size()));
        if (!head.empty() && digit_count(head) < head.size() / 2) return std::string(seg);
      }
    }
    if (e == t.size()) break;
    previous = seg;
    previous_separator = t[e];
    start = e + sep_size;
    while (start < t.size() && (t[start] == ' ' || t[start] == '|' || t[start] == '-')) ++start;
  }
  return {};
}

bool looks_like_name(std::string_view line) {
  std::string_view t = trim(line);
  if (t.empty() || t.size() > 48) return false;
  if (t.find_first_of("0123456789@:/|<>()[]") != std::string_view::npos) return false;
  std::size_t words = 0;
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && t[i] == ' ') ++i;
    if (i >= t.size()) break;
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (!((c >= 'A' && c <= 'Z') || c >= 0xC3)) return false;
    ++words;
    while (i < t.size() && t[i] != ' ') ++i;
  }
  return words >= 2 && words <= 4;
}

struct signature {
  std::string phone, company, name;
};

/// Splits the original text into body and signature; reads phone, company and name from the
/// signature (or, with none marked, from the last paragraph).
signature split_signature(lines_t& text) {
  signature sig;
  std::size_t start = text.size();
  std::size_t content_start = 0;
  while (content_start < text.size() && blank(text[content_start])) ++content_start;
  for (std::size_t i = content_start; i < text.size(); ++i) {
    if (signature_rule(text[i]) || device_line(text[i]) || (i > content_start && sign_off(text[i]))) {
      start = i;
      break;
    }
  }
  std::size_t sig_begin = start == text.size() ? text.size() : start + 1;
  bool marked = start != text.size();
  if (!marked) {
    // No sign-off: trailing short lines are a signature when they hold a phone or a company
    // ("Anna Weber\nWeber GmbH\nTel: ..."). A question or a sentence ends the walk up.
    std::size_t k = text.size();
    std::size_t kept = 0;
    for (std::size_t i = text.size(); i > content_start + 1 && kept < 8; --i) {
      const std::string_view l = trim(text[i - 1]);
      if (l.empty()) continue;
      const std::size_t words = static_cast<std::size_t>(std::count(l.begin(), l.end(), ' ')) + 1;
      const bool sentence = l.size() > 60 || ends_with(l, "?") || ends_with(l, ":") ||
                            (ends_with(l, ".") && words >= 5 && company_of_line(l).empty());
      if (sentence) break;
      ++kept;
      k = i - 1;
    }
    if (k < text.size()) {
      bool found = false;
      for (std::size_t i = k; i < text.size(); ++i)
        found = found || !phone_of_line(text[i], false).empty() || !company_of_line(text[i]).empty();
      if (found) {
        start = k;
        sig_begin = k;
        marked = true;
      }
    }
  }
  if (!marked) return sig;
  const std::size_t sig_end = std::min(text.size(), sig_begin + 16);
  for (std::size_t i = sig_begin; i < sig_end; ++i) {
    if (device_line(text[i])) continue;
    if (sig.phone.empty()) sig.phone = phone_of_line(text[i], false);
    if (sig.company.empty()) sig.company = company_of_line(text[i]);
    if (sig.name.empty() && looks_like_name(text[i]) && company_of_line(text[i]).empty() && !sign_off(text[i]))
      sig.name = std::string(trim(text[i]));
  }
  text.resize(start);
  while (!text.empty() && blank(text.back())) text.pop_back();
  return sig;
}

std::string join(const lines_t& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += trim(l).empty() ? std::string() : std::string(l);
  }
  // Collapse runs of blank lines.
  std::string collapsed;
  int newlines = 0;
  for (char c : out) {
    if (c == '\n') {
      if (++newlines > 2) continue;
    } else {
      newlines = 0;
    }
    collapsed += c;
  }
  return std::string(trim(collapsed));
}

// ---- subjects --------------------------------------------------------------------------------

constexpr std::string_view forward_prefixes[] = {"fwd:", "fw:", "wg:", "tr:", "rv:", "i:", "doorst:", "enc:",
                                                 "fwd :", "fw :", "tr :", "wg :", "[fwd:"};

std::string strip_forward_prefixes(std::string_view subject) {
  std::string_view s = trim(subject);
  for (int round = 0; round < 8; ++round) {
    const std::string lower = ascii_lower(s.substr(0, 8));
    bool stripped = false;
    for (auto p : forward_prefixes) {
      if (starts_with(lower, p)) {
        s = trim(s.substr(p.size()));
        if (p == "[fwd:" && !s.empty() && s.back() == ']') s = trim(s.substr(0, s.size() - 1));
        stripped = true;
        break;
      }
    }
    if (!stripped) break;
  }
  return std::string(s);
}

// ---- the extraction --------------------------------------------------------------------------

struct analysis {
  lead_extraction lead;
  bool found = false;
};

std::string body_text(const message& m, bool& from_html) {
  from_html = false;
  if (!trim(m.text_body).empty()) return normalize(m.text_body);
  if (!trim(m.html_body).empty()) {
    from_html = true;
    return normalize(html_to_text(m.html_body));
  }
  return {};
}

void finish_original(lead_extraction& lead, lines_t text) {
  signature sig = split_signature(text);
  // A bare name closing the text ("...\n\nIsabelle Petit") signs it; it is not content.
  if (text.size() >= 3 && !lead.name.empty() && blank(text[text.size() - 2]) &&
      ascii_lower(trim(text.back())) == ascii_lower(trim(lead.name)))
    text.resize(text.size() - 2);
  lead.body = join(text);
  lead.phone = sig.phone;
  lead.company_name = sig.company;
  if (lead.name.empty()) lead.name = sig.name;
}

/// Lead from forwarded header blocks in `lines`; false when there is none.
bool from_blocks(const lines_t& lines, const message& m, bool loose, lead_extraction& lead) {
  auto block = find_block(lines, 0, lines.size(), loose);
  if (!block) return false;
  const mailbox forwarder = m.from.empty() ? mailbox{} : m.from.front();
  lead.forwarded = true;
  lead.forwarder = forwarder;
  lead.format = block->format;
  lead.language = block_language(*block);
  lead.forward_depth = 1;

  // The forwarded message's own lines, without Apple Mail's quote level.
  auto forwarded_lines = [&](const header_block& b, const lines_t& src) {
    lines_t out;
    const std::size_t end = std::min(src.size(), b.end + max_scan_lines);
    for (std::size_t i = b.end; i < end; ++i) out.push_back(strip_quote(src[i], b.quote));
    return out;
  };
  header_block current = *block;
  lines_t body = forwarded_lines(current, lines);
  mailbox sender = parse_sender(current.from);
  // Follow older forwards while the forwarded message is only a colleague passing it on.
  while (lead.forward_depth < max_forward_depth) {
    auto nested = find_block(body, 0, body.size(), false);
    if (!nested || !nested->has_from) break;
    const lines_t own = own_text(body, 0, nested->begin);
    std::size_t chars = 0;
    for (const auto& l : own) chars += trim(l).size();
    const bool colleague = !sender.address.empty() && domain_of(sender.address) == domain_of(forwarder.address);
    const bool same_as_forwarder = same_address(sender.address, forwarder.address);
    if (!(colleague || same_as_forwarder || chars < 40 || sender.address.empty())) break;
    lead.notes.push_back("followed a nested forward inside the message from " +
                         (sender.address.empty() ? sender.name : sender.address));
    body = forwarded_lines(*nested, body);
    current = *nested;
    sender = parse_sender(current.from);
    lead.format = nested->format;
    lead.language = block_language(*nested);
    ++lead.forward_depth;
  }
  lead.subject = strip_forward_prefixes(current.has_subject ? current.subject : m.subject);
  lines_t text = own_text(body, 0, body.size());

  if (!current.has_from) {
    lead.notes.push_back("a forward marker without a From line");
  } else if (sender.address.empty()) {
    lead.notes.push_back("the forwarded header names the sender only by name (\"" + sender.name + "\")");
  } else if (same_address(sender.address, forwarder.address)) {
    lead.notes.push_back("the forwarded message was sent by the forwarder itself");
  }
  std::string email = sender.address;
  std::string name = sender.name;
  if (email.empty() || same_address(email, forwarder.address)) {
    const std::string own_sender = email;
    email.clear();
    auto take = [&](const std::string& candidate, const char* why) {
      const std::string a = normalize_address(candidate);
      if (!email.empty() || a.empty() || same_address(a, forwarder.address) || same_address(a, own_sender)) return;
      email = a;
      lead.notes.push_back(why);
    };
    take(current.reply_to, "lead address taken from the forwarded header's Reply-To");
    if (!own_sender.empty()) {
      const mailbox to = parse_sender(current.to);
      take(to.address, "lead address taken from the forwarded message's recipient");
      if (!to.address.empty() && same_address(email, to.address) && !to.name.empty()) name = to.name;
    }
    for (const auto& r : m.reply_to) take(r.address, "lead address taken from the Reply-To header");
    for (const auto& a : m.attached_messages)
      if (!a.from.empty()) take(a.from.front().address, "lead address taken from the attached message");
    // An address in the forwarded text itself (a signature) is the last resort.
    for (const auto& l : text) {
      if (auto f = find_address(l)) take(f->address, "lead address taken from the forwarded message's text");
      if (!email.empty()) break;
    }
    if (email.empty()) {
      lead.notes.push_back("no address for the original sender was found");
      if (!own_sender.empty()) name.clear();
    }
  }
  lead.email = email;
  lead.name = name;
  const bool own_message = same_address(sender.address, forwarder.address);
  finish_original(lead, std::move(text));
  if (own_message) {
    // The signature under the forwarder's own message is the forwarder's, not the lead's.
    lead.phone.clear();
    lead.company_name.clear();
  }
  return true;
}

lead_extraction extract(const message& m, int depth) {
  lead_extraction lead;
  lead.subject = strip_forward_prefixes(m.subject);
  const bool hint = subject_marks_forward(m.subject);

  bool from_html = false;
  const std::string text = body_text(m, from_html);
  lines_t lines = split_lines(text);
  if (from_blocks(lines, m, hint, lead)) {
    lead.from_html = from_html;
    return lead;
  }
  // A text part may lack what the HTML part shows (some clients put only the reply in text).
  if (!from_html && !trim(m.html_body).empty()) {
    lines_t html_lines = split_lines(normalize(html_to_text(m.html_body)));
    lead_extraction html_lead = lead;
    if (from_blocks(html_lines, m, hint, html_lead)) {
      html_lead.from_html = true;
      return html_lead;
    }
  }
  // Forwarded as an attachment: the attached message's sender is the lead.
  if (!m.attached_messages.empty() && depth < 3 && !m.from.empty()) {
    const message& inner = m.attached_messages.front();
    if (!inner.from.empty()) {
      lead_extraction in = extract(inner, depth + 1);
      const mailbox forwarder = m.from.front();
      const bool follow = in.forwarded && domain_of(inner.from.front().address) == domain_of(forwarder.address);
      if (!follow) {
        in = lead_extraction{};
        in.email = normalize_address(inner.from.front().address);
        in.name = inner.from.front().name;
        in.subject = strip_forward_prefixes(inner.subject);
        bool inner_html = false;
        lines_t inner_lines = split_lines(body_text(inner, inner_html));
        finish_original(in, own_text(inner_lines, 0, inner_lines.size()));
        in.from_html = inner_html;
        in.language.clear();
      } else {
        in.notes.push_back("followed a forward inside the attached message");
      }
      in.forwarded = true;
      in.forwarder = forwarder;
      in.format = follow ? in.format : mail_format::rfc822_attachment;
      in.forward_depth = follow ? in.forward_depth + 1 : 1;
      return in;
    }
  }
  lead.format = mail_format::direct;
  lead.from_html = from_html;
  if (!m.from.empty()) {
    lead.email = normalize_address(m.from.front().address);
    lead.name = m.from.front().name;
    if (lead.email.empty()) lead.notes.push_back("the From header has no usable address");
  }
  if (hint) lead.notes.push_back("the subject marks a forward but no forwarded header was found; the sender is the lead");
  finish_original(lead, own_text(lines, 0, lines.size()));
  return lead;
}

void repair_all(lead_extraction& l) {
  for (std::string* s : {&l.email, &l.name, &l.phone, &l.company_name, &l.subject, &l.body, &l.forwarder.name,
                         &l.forwarder.address, &l.language})
    if (!valid_utf8(*s)) *s = repair_utf8(*s);
  for (auto& n : l.notes)
    if (!valid_utf8(n)) n = repair_utf8(n);
}

}  // namespace

std::string_view to_string(mail_format f) {
  switch (f) {
    case mail_format::direct: return "direct";
    case mail_format::gmail: return "gmail";
    case mail_format::outlook: return "outlook";
    case mail_format::apple_mail: return "apple_mail";
    case mail_format::thunderbird: return "thunderbird";
    case mail_format::generic: return "generic";
    case mail_format::rfc822_attachment: return "rfc822_attachment";
  }
  return "direct";
}

bool subject_marks_forward(std::string_view subject) {
  const std::string lower = ascii_lower(trim(subject).substr(0, 8));
  for (auto p : forward_prefixes)
    if (starts_with(lower, p)) return true;
  return false;
}

lead_extraction extract_lead(const message& m) {
  try {
    lead_extraction lead = extract(m, 0);
    repair_all(lead);
    return lead;
  } catch (...) {
    // Only std::bad_alloc can get here; an empty extraction says nothing was found.
    lead_extraction lead;
    lead.notes.push_back("extraction failed: out of memory");
    return lead;
  }
}

}  // namespace flowtrack::domain::mail
