// Forwarded header blocks of the common mail clients in several languages, the addresses written
// in them, and where quoted history starts. Works on lines of text; knows nothing of MIME.
#include "domain/mail/forward_header.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

namespace {

bool local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}
bool domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
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
  // Every marker starts with a rule character or ends with a colon: most lines are out at once.
  if (t.empty() || t.size() > 120 || (t.front() != '-' && t.front() != '_' && t.back() != ':'))
    return std::nullopt;
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

/// "On Mon, 4 Mar 2024 at 10:15, Anna <a@x.de> wrote:" and its translations.
bool reply_header(std::string_view line) {
  const std::string_view t = trim(line);
  if (t.size() > 300 || t.empty() || t.back() != ':') return false;
  const std::string l = ascii_lower(t);
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

}  // namespace

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

}  // namespace flowtrack::domain::mail
