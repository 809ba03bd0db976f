// Signatures under a mail's own text: where they start (a "-- " rule, a sign-off, a device line,
// or trailing short lines) and the phone, company and name they give. Works on lines of text.
#include "domain/mail/signature.hpp"

#include <algorithm>
#include <string>

#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

namespace {

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

bool device_line(std::string_view line) {
  if (trim(line).size() > 80) return false;
  const std::string l = ascii_lower(trim(line));
  for (auto s : sent_from_device)
    if (starts_with(l, s)) return true;
  return false;
}

bool signature_rule(std::string_view line) {
  const std::string_view t = trim(line);
  return line == "-- " || t == "--" || t == "\xE2\x80\x94" || t == "---" || t == "\xE2\x80\x93";
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

constexpr std::string_view legal_forms[] = {
    "GmbH", "AG", "KG", "UG", "e.K.", "OHG", "GbR", "mbH", "SE", "Ltd", "Ltd.", "Limited", "LLC", "L.L.C.", "Inc",
    "Inc.", "Corp", "Corp.", "Corporation", "PLC", "plc", "LLP", "SARL", "S.A.R.L.", "SAS", "S.A.S.", "SA", "S.A.",
    "S.L.", "SL", "S.L.U.", "S.p.A.", "SpA", "S.r.l.", "Srl", "SRL", "s.r.l.", "B.V.", "BV", "N.V.", "NV", "Lda",
    "Lda.", "Ltda", "Ltda.", "AB", "A/S", "Oy", "GmbH & Co. KG", "Co.", "S.C.", "(haftungsbeschränkt)", "eG", "e.V.",
    "KGaA", "mbB", "PartG", "Sp. z o.o.", "s.r.o.", "Unipessoal", "VOF", "CV", "AS", "ASA", "ApS", "Pty Ltd",
};

constexpr std::string_view company_labels[] = {
    "company:", "firma:", "société:", "société :", "empresa:", "azienda:", "bedrijf:", "organisation:",
    "organization:", "unternehmen:", "entreprise:", "entreprise :",
};

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

}  // namespace

bool sign_off(std::string_view line) {
  if (trim(line).size() > 48) return false;
  std::string l = ascii_lower(trim(line));
  while (!l.empty() && (l.back() == ',' || l.back() == '!' || l.back() == '.' || l.back() == ' ')) l.pop_back();
  for (auto s : sign_offs)
    if (l == s) return true;
  return false;
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

}  // namespace flowtrack::domain::mail
