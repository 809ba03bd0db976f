// Template compilation and rendering.
#include "runtime/template.hpp"

#include "runtime/text.hpp"
#include "runtime/tz.hpp"

namespace flowtrack::runtime {

namespace {

result<text_template::filter> parse_filter(std::string_view s) {
  s = trim(s);
  text_template::filter f;
  std::string_view name = s, arg;
  bool has_arg = false;
  if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    name = trim(s.substr(0, colon));
    arg = trim(s.substr(colon + 1));
    has_arg = true;
  }
  if (has_arg) {
    if (arg.size() >= 2 && (arg.front() == '"' || arg.front() == '\'') && arg.back() == arg.front()) {
      const char q = arg.front();
      arg = arg.substr(1, arg.size() - 2);
      for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] == '\\' && i + 1 < arg.size()) {
          f.arg.push_back(arg[++i]);
        } else if (arg[i] == q) {
          return make_error(error_code::invalid, "unescaped quote in filter argument");
        } else {
          f.arg.push_back(arg[i]);
        }
      }
    } else if (!arg.empty() && arg.front() != '"' && arg.front() != '\'') {
      f.arg = std::string(arg);
    } else {
      return make_error(error_code::invalid, "unterminated filter argument in '" + std::string(s) + "'");
    }
  }
  if (name == "default") {
    f.what = text_template::filter::kind::fallback;
    if (!has_arg) return make_error(error_code::invalid, "filter 'default' needs an argument, e.g. default:\"there\"");
  } else if (name == "upper") {
    f.what = text_template::filter::kind::upper;
  } else if (name == "lower") {
    f.what = text_template::filter::kind::lower;
  } else if (name == "trim") {
    f.what = text_template::filter::kind::trim;
  } else if (name == "capitalize") {
    f.what = text_template::filter::kind::capitalize;
  } else if (name == "date") {
    f.what = text_template::filter::kind::date;
    if (!has_arg) f.arg = "%Y-%m-%d";
  } else {
    return make_error(error_code::invalid, "unknown filter '" + std::string(name) +
                                               "' (known: default, upper, lower, trim, capitalize, date)");
  }
  if (has_arg && f.what != text_template::filter::kind::fallback && f.what != text_template::filter::kind::date) {
    return make_error(error_code::invalid, "filter '" + std::string(name) + "' takes no argument");
  }
  return f;
}

void append_escaped(std::string& out, std::string_view s, escape_mode mode) {
  switch (mode) {
    case escape_mode::none: out += s; break;
    case escape_mode::html: append_html_escaped(out, s); break;
    case escape_mode::json: append_json_escaped(out, s); break;
  }
}

}  // namespace

result<text_template> text_template::compile(std::string_view src) {
  if (src.size() > k_max_template_length) {
    return make_error(error_code::invalid, "template is longer than " + std::to_string(k_max_template_length) + " bytes");
  }
  text_template t;
  t.source_ = std::string(src);
  std::size_t i = 0;
  std::string literal;
  while (i < src.size()) {
    const auto open = src.find("{{", i);
    if (open == std::string_view::npos) {
      literal += src.substr(i);
      break;
    }
    literal += src.substr(i, open - i);
    const auto close = src.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return make_error(error_code::invalid, "unterminated '{{' at offset " + std::to_string(open));
    }
    const std::string_view body = src.substr(open + 2, close - open - 2);
    if (body.find("{{") != std::string_view::npos) {
      return make_error(error_code::invalid, "nested '{{' at offset " + std::to_string(open));
    }
    // Split on '|' outside quotes.
    std::vector<std::string_view> pieces;
    std::size_t b = 0;
    char quote = 0;
    for (std::size_t k = 0; k < body.size(); ++k) {
      const char c = body[k];
      if (quote) {
        if (c == '\\') ++k;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '|') {
        pieces.push_back(body.substr(b, k - b));
        b = k + 1;
      }
    }
    pieces.push_back(body.substr(b));
    const std::string_view name = trim(pieces[0]);
    if (name.empty()) return make_error(error_code::invalid, "empty variable at offset " + std::to_string(open));
    for (char c : name) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '.' || c == '-';
      if (!ok) {
        return make_error(error_code::invalid,
                          "bad variable name '" + std::string(name) + "' at offset " + std::to_string(open));
      }
    }
    part p;
    p.is_variable = true;
    p.var = parse_variable(name, bare_names::unknown);
    for (std::size_t k = 1; k < pieces.size(); ++k) {
      auto f = parse_filter(pieces[k]);
      if (!f) return make_error(error_code::invalid, f.err().message + " at offset " + std::to_string(open));
      p.filters.push_back(std::move(*f));
    }
    if (!literal.empty()) {
      part lit;
      lit.literal = std::move(literal);
      literal.clear();
      t.parts_.push_back(std::move(lit));
    }
    t.parts_.push_back(std::move(p));
    i = close + 2;
  }
  if (!literal.empty()) {
    part lit;
    lit.literal = std::move(literal);
    t.parts_.push_back(std::move(lit));
  }
  return t;
}

void text_template::render_to(std::string& out, const eval_context& ctx, escape_mode mode,
                              std::vector<std::string>* unknown) const {
  for (const part& p : parts_) {
    if (!p.is_variable) {
      out += p.literal;
      continue;
    }
    const value_view v = resolve(p.var, ctx);
    const bool missing = v.what == value_view::kind::missing;
    bool has_default = false;
    if (p.filters.empty()) {
      if (v.what == value_view::kind::string) append_escaped(out, v.text, mode);
      else if (!missing) {
        thread_local std::string text;
        text.clear();
        append_text(text, v);
        append_escaped(out, text, mode);
      }
    } else {
      thread_local std::string text;
      text.clear();
      append_text(text, v);
      for (const filter& f : p.filters) {
        switch (f.what) {
          case filter::kind::fallback:
            has_default = true;
            if (trim(text).empty()) text = f.arg;
            break;
          case filter::kind::upper: to_upper_ascii(text); break;
          case filter::kind::lower: to_lower_ascii(text); break;
          case filter::kind::trim: text = std::string(trim(text)); break;
          case filter::kind::capitalize:
            if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 'a' + 'A');
            break;
          case filter::kind::date: {
            std::optional<std::int64_t> ms;
            if (v.what == value_view::kind::number) {
              if (const auto n = parse_number(text)) ms = static_cast<std::int64_t>(*n);
            } else if (!trim(text).empty()) {
              if (auto parsed = parse_iso8601(trim(text), ctx.env.zone.get())) ms = *parsed;
            }
            if (ms) text = format_time(*ms, f.arg, ctx.env.zone ? *ctx.env.zone : *time_zone::utc());
            break;
          }
        }
      }
      append_escaped(out, text, mode);
    }
    if (unknown && (p.var.root == var_root::unknown || missing) && !has_default) unknown->push_back(p.var.text);
  }
}

std::string text_template::render(const eval_context& ctx, escape_mode mode, std::vector<std::string>* unknown) const {
  std::string out;
  out.reserve(source_.size() + 32);
  render_to(out, ctx, mode, unknown);
  return out;
}

std::vector<const variable*> text_template::variables() const {
  std::vector<const variable*> out;
  for (const auto& p : parts_) {
    if (p.is_variable) out.push_back(&p.var);
  }
  return out;
}

}  // namespace flowtrack::runtime
