// UTF-8 repair, charset conversion (glibc iconv) and HTML-to-text for inbound mail. Knows nothing
// of MIME structure or leads.
#include "domain/mail/text.hpp"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

namespace flowtrack::domain::mail {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";

/// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is ill-formed.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out += replacement;
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// windows-1252's 0x80..0x9F; 0 marks the five unassigned bytes.
constexpr std::array<std::uint16_t, 32> cp1252_high = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

std::string from_windows_1252(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  for (unsigned char c : bytes) {
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0xA0) append_utf8(out, cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : 0xFFFD);
    else append_utf8(out, c);
  }
  return out;
}

bool is_charset(std::string_view lower, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (lower == n) return true;
  return false;
}

/// Converts with iconv; bytes it cannot read become U+FFFD. Empty optional when iconv does not
/// know the charset.
bool iconv_to_utf8(std::string_view bytes, const std::string& charset, std::string& out) {
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  out.clear();
  out.reserve(bytes.size() + bytes.size() / 2);
  std::string in(bytes);
  char* inp = in.data();
  std::size_t inleft = in.size();
  std::array<char, 4096> buf{};
  while (true) {
    char* outp = buf.data();
    std::size_t outleft = buf.size();
    const std::size_t rc = inleft > 0 ? iconv(cd, &inp, &inleft, &outp, &outleft)
                                      : iconv(cd, nullptr, nullptr, &outp, &outleft);
    out.append(buf.data(), buf.size() - outleft);
    if (rc != static_cast<std::size_t>(-1)) {
      if (inleft == 0) {
        // Flush any shift state (iso-2022-jp) once, then stop.
        char* flushp = buf.data();
        std::size_t flushleft = buf.size();
        iconv(cd, nullptr, nullptr, &flushp, &flushleft);
        out.append(buf.data(), buf.size() - flushleft);
        break;
      }
      continue;
    }
    if (errno == E2BIG) continue;
    // EILSEQ or EINVAL (truncated input): skip one byte, mark it, go on.
    out += replacement;
    if (inleft == 0) break;
    ++inp;
    --inleft;
    if (inleft == 0) break;
  }
  iconv_close(cd);
  return true;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += replacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  const std::string cs = ascii_lower(trim(charset));
  bool ascii = true;
  for (unsigned char c : bytes)
    if (c >= 0x80 || c == 0x1B) {
      ascii = false;
      break;
    }
  if (ascii) return std::string(bytes);  // every charset we meet is an ASCII superset, except iso-2022 escapes
  if (cs.empty() || is_charset(cs, {"us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "unknown"})) {
    if (valid_utf8(bytes)) return std::string(bytes);
    return from_windows_1252(bytes);
  }
  if (is_charset(cs, {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "iso_8859-1", "l1"}))
    return from_windows_1252(bytes);
  std::string out;
  if (cs.size() < 64 && iconv_to_utf8(bytes, cs, out)) return repair_utf8(out);
  // An unknown label: trust the bytes if they are UTF-8, else read them as windows-1252.
  if (valid_utf8(bytes)) return std::string(bytes);
  return from_windows_1252(bytes);
}

namespace {

struct entity {
  std::string_view name;
  std::uint32_t cp;
};

// HTML's named entities that mail clients write: markup, spaces, Latin-1, punctuation.
constexpr entity entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"ensp", 0x2002}, {"emsp", 0x2003}, {"thinsp", 0x2009}, {"zwnj", 0x200C}, {"zwj", 0x200D},
    {"ndash", 0x2013}, {"mdash", 0x2014}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A},
    {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"bull", 0x2022}, {"hellip", 0x2026},
    {"euro", 0x20AC}, {"trade", 0x2122}, {"copy", 0xA9}, {"reg", 0xAE}, {"iexcl", 0xA1},
    {"cent", 0xA2}, {"pound", 0xA3}, {"curren", 0xA4}, {"yen", 0xA5}, {"brvbar", 0xA6},
    {"sect", 0xA7}, {"uml", 0xA8}, {"ordf", 0xAA}, {"laquo", 0xAB}, {"not", 0xAC}, {"shy", 0xAD},
    {"macr", 0xAF}, {"deg", 0xB0}, {"plusmn", 0xB1}, {"sup2", 0xB2}, {"sup3", 0xB3},
    {"acute", 0xB4}, {"micro", 0xB5}, {"para", 0xB6}, {"middot", 0xB7}, {"cedil", 0xB8},
    {"sup1", 0xB9}, {"ordm", 0xBA}, {"raquo", 0xBB}, {"frac14", 0xBC}, {"frac12", 0xBD},
    {"frac34", 0xBE}, {"iquest", 0xBF}, {"Agrave", 0xC0}, {"Aacute", 0xC1}, {"Acirc", 0xC2},
    {"Atilde", 0xC3}, {"Auml", 0xC4}, {"Aring", 0xC5}, {"AElig", 0xC6}, {"Ccedil", 0xC7},
    {"Egrave", 0xC8}, {"Eacute", 0xC9}, {"Ecirc", 0xCA}, {"Euml", 0xCB}, {"Igrave", 0xCC},
    {"Iacute", 0xCD}, {"Icirc", 0xCE}, {"Iuml", 0xCF}, {"ETH", 0xD0}, {"Ntilde", 0xD1},
    {"Ograve", 0xD2}, {"Oacute", 0xD3}, {"Ocirc", 0xD4}, {"Otilde", 0xD5}, {"Ouml", 0xD6},
    {"times", 0xD7}, {"Oslash", 0xD8}, {"Ugrave", 0xD9}, {"Uacute", 0xDA}, {"Ucirc", 0xDB},
    {"Uuml", 0xDC}, {"Yacute", 0xDD}, {"THORN", 0xDE}, {"szlig", 0xDF}, {"agrave", 0xE0},
    {"aacute", 0xE1}, {"acirc", 0xE2}, {"atilde", 0xE3}, {"auml", 0xE4}, {"aring", 0xE5},
    {"aelig", 0xE6}, {"ccedil", 0xE7}, {"egrave", 0xE8}, {"eacute", 0xE9}, {"ecirc", 0xEA},
    {"euml", 0xEB}, {"igrave", 0xEC}, {"iacute", 0xED}, {"icirc", 0xEE}, {"iuml", 0xEF},
    {"eth", 0xF0}, {"ntilde", 0xF1}, {"ograve", 0xF2}, {"oacute", 0xF3}, {"ocirc", 0xF4},
    {"otilde", 0xF5}, {"ouml", 0xF6}, {"divide", 0xF7}, {"oslash", 0xF8}, {"ugrave", 0xF9},
    {"uacute", 0xFA}, {"ucirc", 0xFB}, {"uuml", 0xFC}, {"yacute", 0xFD}, {"thorn", 0xFE},
    {"yuml", 0xFF}, {"OElig", 0x152}, {"oelig", 0x153}, {"Scaron", 0x160}, {"scaron", 0x161},
    {"Yuml", 0x178}, {"circ", 0x2C6}, {"tilde", 0x2DC}, {"lrm", 0x200E}, {"rlm", 0x200F},
};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Decodes the entity starting at html[i] == '&'; returns the bytes consumed (0: not an entity).
std::size_t decode_entity(std::string_view html, std::size_t i, std::string& out) {
  // Entities are short: look no further than that, so "&&&&..." stays linear.
  std::size_t end = html.substr(i, 14).find(';');
  if (end == std::string_view::npos || end == 1) return 0;
  end += i;
  std::string_view body = html.substr(i + 1, end - i - 1);
  if (body[0] == '#') {
    std::uint32_t cp = 0;
    bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
    std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    for (char c : digits) {
      int v;
      if (is_digit(c)) v = c - '0';
      else if (hex && c >= 'a' && c <= 'f') v = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F') v = c - 'A' + 10;
      else return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
      if (cp > 0x10FFFF) cp = 0x110000;
    }
    if (cp >= 0x80 && cp < 0xA0) cp = cp1252_high[cp - 0x80] ? cp1252_high[cp - 0x80] : 0xFFFD;
    append_utf8(out, cp);
    return end - i + 1;
  }
  for (const auto& e : entities) {
    if (e.name == body) {
      append_utf8(out, e.cp);
      return end - i + 1;
    }
  }
  return 0;
}

/// The value of attribute `name` in a start tag's text (between '<' and '>'), entity-decoded.
std::string attribute(std::string_view tag, std::string_view name) {
  const std::string lower = ascii_lower(tag);
  std::size_t pos = 0;
  while ((pos = lower.find(name, pos)) != std::string::npos) {
    const bool starts = pos > 0 && (lower[pos - 1] == ' ' || lower[pos - 1] == '\t' || lower[pos - 1] == '\n');
    std::size_t k = pos + name.size();
    while (k < lower.size() && lower[k] == ' ') ++k;
    if (!starts || k >= lower.size() || lower[k] != '=') {
      pos += name.size();
      continue;
    }
    ++k;
    while (k < lower.size() && lower[k] == ' ') ++k;
    if (k >= lower.size()) return {};
    std::size_t e;
    if (tag[k] == '"' || tag[k] == '\'') {
      const char q = tag[k++];
      e = tag.find(q, k);
      if (e == std::string_view::npos) e = tag.size();
    } else {
      e = k;
      while (e < tag.size() && tag[e] != ' ' && tag[e] != '\t' && tag[e] != '\n') ++e;
    }
    std::string raw(tag.substr(k, e - k)), out;
    for (std::size_t i = 0; i < raw.size();) {
      if (raw[i] == '&') {
        if (std::size_t n = decode_entity(raw, i, out)) {
          i += n;
          continue;
        }
      }
      out += raw[i++];
    }
    return out;
  }
  return {};
}

}  // namespace

std::string html_to_text(std::string_view html, std::size_t max_bytes) {
  if (html.size() > max_bytes) html = html.substr(0, max_bytes);
  std::string out;
  out.reserve(html.size() / 2);
  int quote_depth = 0;
  bool line_start = true;
  bool pending_space = false;
  std::string mailto;           // href of the <a> being read, when it is a mailto: link
  std::size_t anchor_start = 0;  // where the anchor's text starts in `out`
  // Once no '>' follows a position, none follows any later one: "<<<<..." stays linear.
  std::size_t no_close_from = std::string_view::npos;

  auto newline = [&] {
    // Trailing spaces on a line carry nothing.
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
    line_start = true;
    pending_space = false;
  };
  auto emit = [&](std::string_view text) {
    if (line_start) {
      for (int q = 0; q < quote_depth; ++q) out += "> ";
      line_start = false;
      pending_space = false;
    } else if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out.append(text);
  };

  std::size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        const std::size_t e = html.find("-->", i + 4);
        i = e == std::string_view::npos ? html.size() : e + 3;
        continue;
      }
      const std::size_t lt = i;
      std::size_t e = i + 1 >= no_close_from ? std::string_view::npos : html.find('>', i + 1);
      if (e == std::string_view::npos && i + 1 < no_close_from) no_close_from = i + 1;
      const bool tag_like = i + 1 < html.size() && (is_alpha(html[i + 1]) || html[i + 1] == '/' || html[i + 1] == '!');
      if (e == std::string_view::npos || !tag_like) {
        // Not a tag ("a < b"): keep the text.
        emit("<");
        i = lt + 1;
        continue;
      }
      std::string_view tag = html.substr(i + 1, e - i - 1);
      i = e + 1;
      const bool closing = !tag.empty() && tag[0] == '/';
      std::size_t n = closing ? 1 : 0;
      std::size_t ne = n;
      while (ne < tag.size() && (is_alpha(tag[ne]) || is_digit(tag[ne]) || tag[ne] == ':')) ++ne;
      const std::string name = ascii_lower(tag.substr(n, ne - n));
      if (name.empty()) {
        // Not a tag ("a < b"): keep the text.
        emit("<");
        i = lt + 1;
        continue;
      }
      if (!closing && (name == "script" || name == "style" || name == "head" || name == "title")) {
        // Skip the element's content.
        const std::string close = "</" + name;
        std::size_t k = i;
        while (true) {
          k = html.find("</", k);
          if (k == std::string_view::npos) {
            i = html.size();
            break;
          }
          if (ascii_lower(html.substr(k, close.size())) == close) {
            const std::size_t ke = html.find('>', k);
            i = ke == std::string_view::npos ? html.size() : ke + 1;
            break;
          }
          k += 2;
        }
        continue;
      }
      if (name == "br") {
        newline();
      } else if (name == "p" || name == "div" || name == "tr" || name == "li" || name == "ul" || name == "ol" ||
                 name == "table" || name == "h1" || name == "h2" || name == "h3" || name == "h4" || name == "h5" ||
                 name == "h6" || name == "hr" || name == "pre" || name == "body" || name == "center" ||
                 name == "address" || name == "dt" || name == "dd" || name == "section" || name == "article" ||
                 name == "header" || name == "footer") {
        if (!line_start) newline();
        if (name == "p" && closing) newline();
      } else if (name == "blockquote") {
        if (!line_start) newline();
        quote_depth += closing ? -1 : 1;
        if (quote_depth < 0) quote_depth = 0;
        if (quote_depth > 32) quote_depth = 32;
      } else if (name == "td" || name == "th") {
        if (!closing && !line_start) pending_space = true;
      } else if (name == "a") {
        if (!closing) {
          const std::string href = attribute(tag, "href");
          mailto.clear();
          if (ascii_lower(href.substr(0, 7)) == "mailto:") {
            mailto = href.substr(7);
            if (auto q = mailto.find('?'); q != std::string::npos) mailto.resize(q);
            mailto = std::string(trim(mailto));
          }
          anchor_start = out.size();
        } else if (!mailto.empty()) {
          // Keep the address when the link shows only a name ("Anna Weber" -> "Anna Weber <a@b.de>").
          if (anchor_start <= out.size() && out.find(mailto, anchor_start) == std::string::npos &&
              out.find('@', anchor_start) == std::string::npos && mailto.find('<') == std::string::npos) {
            emit(" <" + mailto + ">");
          }
          mailto.clear();
        }
      } else if (name == "img") {
        // Images carry no text worth keeping.
      } else if (name == "span" || name == "b" || name == "strong" || name == "i" || name == "em" || name == "u" ||
                 name == "font") {
        // Inline: nothing.
      }
      continue;
    }
    if (c == '&') {
      std::string decoded;
      if (std::size_t n = decode_entity(html, i, decoded)) {
        i += n;
        if (decoded == "\xC2\xA0") {
          if (!line_start) pending_space = true;
        } else {
          emit(decoded);
        }
        continue;
      }
      emit("&");
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!line_start) pending_space = true;
      ++i;
      continue;
    }
    std::size_t e = i;
    while (e < html.size() && html[e] != '<' && html[e] != '&' && html[e] != ' ' && html[e] != '\t' &&
           html[e] != '\r' && html[e] != '\n')
      ++e;
    emit(html.substr(i, e - i));
    i = e;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return repair_utf8(out);
}

}  // namespace flowtrack::domain::mail
