// Text templates ("Hi {{lead.name | default:\"there\"}}"), compiled once with the graph and
// rendered per step into a caller's buffer. They never execute code: only variables and a fixed
// set of filters. Must not know about graphs or I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/lead.hpp"
#include "runtime/variables.hpp"

namespace flowtrack::runtime {

/// How substituted values are escaped (literal template text is never touched).
enum class escape_mode : std::uint8_t {
  none,  ///< plain text
  html,  ///< & < > " ' as entities, for HTML bodies
  json,  ///< as the inside of a JSON string, for webhook payload templates
};

/// Largest template source accepted.
inline constexpr std::size_t k_max_template_length = 64 * 1024;

/// A compiled template.
///
/// Variables: lead.{id,email,name,first_name,company_name,phone,status,source,score,tags,
/// email_domain,assigned_to}, lead.fields.<key>, workspace.{id,name,owner_email},
/// workflow.{id,name}, execution.id, trigger.<path>, now. Filters, chained with '|':
/// default:"x", upper, lower, trim, capitalize, date:"%Y-%m-%d" (ISO strings or epoch
/// milliseconds, shown in the workspace time zone). An unknown or missing variable renders
/// empty and is reported, unless it has a default.
class text_template {
 public:
  /// Compiles; invalid on an unterminated "{{", an empty variable or an unknown filter.
  static result<text_template> compile(std::string_view source);

  /// Appends the rendering to `out`; names of unknown or missing variables are appended to
  /// `unknown` when given.
  void render_to(std::string& out, const eval_context& ctx, escape_mode mode,
                 std::vector<std::string>* unknown = nullptr) const;
  /// Convenience: the rendering as a new string.
  std::string render(const eval_context& ctx, escape_mode mode = escape_mode::none,
                     std::vector<std::string>* unknown = nullptr) const;

  /// The source text.
  const std::string& source() const { return source_; }
  /// Whether the source is empty.
  bool empty() const { return source_.empty(); }
  /// Variables referenced, for validation warnings.
  std::vector<const variable*> variables() const;

  struct filter {
    enum class kind : std::uint8_t { fallback, upper, lower, trim, capitalize, date };
    kind what = kind::fallback;
    std::string arg;
  };
  struct part {
    std::string literal;  ///< used when !is_variable
    bool is_variable = false;
    variable var;
    std::vector<filter> filters;
  };

 private:
  std::string source_;
  std::vector<part> parts_;
};

}  // namespace flowtrack::runtime
