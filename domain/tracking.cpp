#include "domain/tracking.hpp"

#include <vector>

#include "runtime/text.hpp"

namespace flowtrack::domain {
namespace {

constexpr char k_sep = '\n';  // no field holds a line break: ids are UUIDs, URLs are checked

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == k_sep) {
      out.push_back(s.substr(from, i - from));
      from = i + 1;
    }
  return out;
}

std::string html_escape_attr(std::string_view s) {
  std::string out;
  runtime::append_html_escaped(out, s);
  return out;
}

// The few entities a URL in an attribute carries.
std::string html_unescape_attr(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      auto rest = s.substr(i);
      if (rest.starts_with("&amp;")) { out += '&'; i += 4; continue; }
      if (rest.starts_with("&quot;")) { out += '"'; i += 5; continue; }
      if (rest.starts_with("&#39;")) { out += '\''; i += 4; continue; }
      if (rest.starts_with("&lt;")) { out += '<'; i += 3; continue; }
      if (rest.starts_with("&gt;")) { out += '>'; i += 3; continue; }
    }
    out += s[i];
  }
  return out;
}

bool trackable(std::string_view url) {
  if (url.size() > 2000) return false;
  for (char c : url)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  std::string head(url.substr(0, 8));
  runtime::to_lower_ascii(head);
  return head.starts_with("http://") || head.starts_with("https://");
}

// Case-insensitive find of an ASCII needle.
std::size_t ifind(std::string_view hay, std::string_view needle, std::size_t from) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i)
    if (runtime::iequals(hay.substr(i, needle.size()), needle)) return i;
  return std::string_view::npos;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

}  // namespace

std::string tracking_path(track_kind kind, std::string_view token) {
  switch (kind) {
    case track_kind::open: return "/t/o/" + std::string(token) + ".gif";
    case track_kind::click: return "/t/c/" + std::string(token);
    case track_kind::unsubscribe: return "/t/u/" + std::string(token);
  }
  return {};
}

std::string encode_track_ref(const track_ref& r) {
  std::string out(1, static_cast<char>(r.kind));
  for (const auto* f : {&r.workspace_id, &r.lead_id, &r.execution_id, &r.url}) {
    out += k_sep;
    out += *f;
  }
  return out;
}

std::optional<track_ref> decode_track_ref(std::string_view payload) {
  auto f = split(payload);
  if (f.size() != 5 || f[0].size() != 1) return std::nullopt;
  track_ref r;
  switch (f[0][0]) {
    case 'o': r.kind = track_kind::open; break;
    case 'c': r.kind = track_kind::click; break;
    case 'u': r.kind = track_kind::unsubscribe; break;
    default: return std::nullopt;
  }
  if (!runtime::is_uuid(f[1]) || !runtime::is_uuid(f[2]) || (!f[3].empty() && !runtime::is_uuid(f[3]))) return std::nullopt;
  if ((r.kind == track_kind::click) != !f[4].empty()) return std::nullopt;
  if (r.kind == track_kind::click && !trackable(f[4])) return std::nullopt;
  r.workspace_id = f[1];
  r.lead_id = f[2];
  r.execution_id = f[3];
  r.url = f[4];
  return r;
}

std::string track_html(std::string_view html, const std::function<std::string(std::string_view)>& click_url,
                       std::string_view pixel_url) {
  std::string out;
  out.reserve(html.size() + 256);
  std::size_t at = 0;
  for (;;) {
    auto a = ifind(html, "<a", at);
    if (a == std::string_view::npos) break;
    auto end = html.find('>', a);
    if (end == std::string_view::npos) break;
    if (a + 2 < html.size() && !is_space(html[a + 2])) {  // <abbr>, <aside>: not a link
      out.append(html.substr(at, a + 2 - at));
      at = a + 2;
      continue;
    }
    // href = "..." | '...' inside this tag
    auto h = ifind(html.substr(0, end), "href", a);
    std::size_t eq = h == std::string_view::npos ? h : h + 4;
    while (eq != std::string_view::npos && eq < end && is_space(html[eq])) ++eq;
    if (eq == std::string_view::npos || eq >= end || html[eq] != '=' || !is_space(html[h - 1])) {
      out.append(html.substr(at, end + 1 - at));
      at = end + 1;
      continue;
    }
    std::size_t v = eq + 1;
    while (v < end && is_space(html[v])) ++v;
    char quote = v < end ? html[v] : '\0';
    if (quote != '"' && quote != '\'') {
      out.append(html.substr(at, end + 1 - at));
      at = end + 1;
      continue;
    }
    auto close = html.find(quote, v + 1);
    if (close == std::string_view::npos || close > end) {
      out.append(html.substr(at, end + 1 - at));
      at = end + 1;
      continue;
    }
    std::string url = html_unescape_attr(html.substr(v + 1, close - v - 1));
    out.append(html.substr(at, v - at));
    if (trackable(url)) {
      out += '"';
      out += html_escape_attr(click_url(url));
      out += '"';
    } else {
      out.append(html.substr(v, close + 1 - v));
    }
    at = close + 1;
  }
  out.append(html.substr(at));
  std::string pixel = "<img src=\"" + html_escape_attr(pixel_url) + "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">";
  auto body = out.rfind("</body>");
  if (body == std::string::npos) body = out.rfind("</BODY>");
  if (body == std::string::npos) out += pixel;
  else out.insert(body, pixel);
  return out;
}

}  // namespace flowtrack::domain
