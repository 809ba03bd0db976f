#include "adapters/http/tracking.hpp"

#include "storage/tracking.hpp"

namespace flowtrack::http {
namespace bhttp = boost::beast::http;
namespace {

// A transparent 1x1 GIF.
constexpr unsigned char k_pixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
                                     0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

response page(bhttp::status status, std::string_view title, std::string_view body_html) {
  return html_page(status, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
               "<title>" + std::string(title) + "</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
               "padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}</style></head><body>" + std::string(body_html) + "</body></html>",
                   "form-action 'self'", "no-referrer");
}

response pixel() {
  response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "image/gif");
  res.set(bhttp::field::cache_control, "no-store, max-age=0");
  res.set("X-Content-Type-Options", "nosniff");
  res.body().assign(reinterpret_cast<const char*>(k_pixel), sizeof k_pixel);
  return res;
}

// Records in the background; `then` hears whether it was recorded.
void record(const tracking_targets& t, domain::track_ref r, std::function<void(result<bool>)> then) {
  if (t.postgres == nullptr) return then(make_error(error_code::unavailable, "no database"));
  t.postgres->try_submit([r = std::move(r)](pg::connection& c) { return storage::record_tracking(c, r); }, std::move(then));
}

}  // namespace

void tracking_route(const tracking_targets& t, std::string_view rest, request&& req, responder reply) {
  bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  bool post = req.method() == bhttp::verb::post;
  if (rest.size() < 2 || rest[1] != '/') return reply(json_error(bhttp::status::not_found, "not_found", "no route for this path"));
  char kind = rest[0];
  std::string_view token = rest.substr(2);
  if (kind == 'o' && token.ends_with(".gif")) token.remove_suffix(4);
  std::optional<domain::track_ref> ref;
  if (t.keys != nullptr)
    if (auto payload = t.keys->verify(token, domain::k_tracking_purpose)) ref = domain::decode_track_ref(*payload);
  if (ref && static_cast<char>(ref->kind) != kind) ref.reset();

  switch (kind) {
    case 'o':
      // The image whatever the token says: a mail client shows nothing broken, and a guesser
      // learns nothing. Recording does not hold the answer up.
      if (!get) return reply(json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use GET"));
      if (ref && req.method() == bhttp::verb::get) record(t, std::move(*ref), [](result<bool>) {});
      return reply(pixel());
    case 'c': {
      if (!get) return reply(json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use GET"));
      if (!ref) return reply(page(bhttp::status::not_found, "Link not found", "<h1>This link is not valid</h1>"));
      std::string url = ref->url;
      // A HEAD is a link scanner, not a reader: redirected, not counted.
      if (req.method() == bhttp::verb::get) record(t, std::move(*ref), [](result<bool>) {});
      response res{bhttp::status::found, 11};
      res.set(bhttp::field::location, url);
      res.set(bhttp::field::cache_control, "no-store");
      res.set("Referrer-Policy", "no-referrer");
      return reply(std::move(res));
    }
    case 'u': {
      if (!ref) return reply(page(bhttp::status::not_found, "Link not found", "<h1>This unsubscribe link is not valid</h1>"));
      if (get)
        return reply(page(bhttp::status::ok, "Unsubscribe",
                          "<h1>Unsubscribe</h1><p>Stop receiving emails from this sender?</p>"
                          "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
                          "<button type=\"submit\">Unsubscribe</button></form>"));
      if (!post) return reply(json_error(bhttp::status::method_not_allowed, "method_not_allowed", "use GET or POST"));
      // RFC 8058: a POST with List-Unsubscribe=One-Click; the page's button sends the same.
      return record(t, std::move(*ref), [reply](result<bool> r) {
        if (!r.ok() && r.err().code != error_code::not_found) {
          auto res = page(bhttp::status::service_unavailable, "Try again", "<h1>Please try again in a moment</h1>");
          res.set(bhttp::field::retry_after, "5");
          return reply(std::move(res));
        }
        reply(page(bhttp::status::ok, "Unsubscribed", "<h1>You are unsubscribed</h1><p>You will not receive further emails from this sender.</p>"));
      });
    }
    default:
      return reply(json_error(bhttp::status::not_found, "not_found", "no route for this path"));
  }
}

}  // namespace flowtrack::http
