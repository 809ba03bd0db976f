// The public form's HTML: the form itself (every field type, required marks, help text, errors
// beside their fields, values kept), the thank-you page, a workspace's list of forms and plain
// message pages (404, 429, 503). Accessible, mobile-friendly, no JavaScript. Every user-supplied
// text is escaped.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/form.hpp"

namespace flowtrack::http {

/// The honeypot: a text input hidden from people (off-screen, aria-hidden, no tab stop) that
/// bots fill in. A submission with it set is answered as a success and stored nowhere.
inline constexpr std::string_view k_honeypot_field = "ft_website";

/// A form page to render.
struct form_page {
  std::string workspace_name;
  std::string action;  ///< the path the form posts to
  const domain::form_spec* form = nullptr;
  std::map<std::string, std::string> values;   ///< as submitted, by field key
  std::vector<domain::field_error> errors;     ///< beside their fields, and summarised on top
};

std::string render_form(const form_page& page);
std::string render_thank_you(std::string_view workspace_name, std::string_view title, std::string_view message);
/// A workspace's forms: (title, link) pairs.
std::string render_index(std::string_view workspace_name, const std::vector<std::pair<std::string, std::string>>& forms);
/// A page with a heading and one paragraph (errors and notices).
std::string render_message(std::string_view title, std::string_view message);

/// HTML-escapes text for content and attribute values; invalid UTF-8 becomes U+FFFD.
std::string html_escape(std::string_view text);

}  // namespace flowtrack::http
