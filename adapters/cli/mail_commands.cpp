// `flowtrackd mail unparsed|raw`: the intake mail no lead could be read from, kept 30 days, for the
// operator and the owner it was reported to.
#include <charconv>
#include <iostream>

#include "adapters/cli/operator_commands.hpp"
#include "storage/unparsed_mail.hpp"

namespace flowtrack::cli {
namespace {

constexpr int k_usage = 64;

int mail_unparsed(const std::vector<std::string>& args, const config::settings& s) {
  auto a = parse(args, {"limit"});
  std::size_t limit = 100;
  if (a && a->options.count("limit")) {
    const auto& v = a->options.at("limit");
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
    if (ec != std::errc{} || end != v.data() + v.size() || limit == 0 || limit > 10000) a = make_error(error_code::invalid, "--limit must be 1 to 10000", "limit");
  }
  if (!a || a->positional.size() != 1) {
    if (!a) std::cerr << "flowtrackd mail unparsed: " << a.err().message << "\n";
    std::cerr << "usage: flowtrackd mail unparsed WORKSPACE [--limit N]   (slug or id; JSON lines, newest first)\n";
    return k_usage;
  }
  auto c = connect(s);
  if (!c) return fail("mail unparsed", c.err());
  auto rows = storage::list_unparsed_mail(**c, a->positional[0], limit);
  if (!rows) return fail("mail unparsed", rows.err());
  for (const auto& r : *rows) std::cout << r << "\n";
  return 0;
}

int mail_raw(const std::vector<std::string>& args, const config::settings& s) {
  if (args.size() != 2) {
    std::cerr << "usage: flowtrackd mail raw WORKSPACE ID   (the kept message's bytes, as received)\n";
    return k_usage;
  }
  auto c = connect(s);
  if (!c) return fail("mail raw", c.err());
  auto raw = storage::unparsed_mail_raw(**c, args[0], args[1]);
  if (!raw) return fail("mail raw", raw.err());
  std::cout.write(raw->data(), static_cast<std::streamsize>(raw->size()));
  return std::cout.good() ? 0 : 1;
}

}  // namespace

int mail_command(std::vector<std::string> args, const config::settings& s) {
  return dispatch("mail", std::move(args), s, {{"unparsed", mail_unparsed}, {"raw", mail_raw}});
}

}  // namespace flowtrack::cli
