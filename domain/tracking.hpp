// What a tracking link names (an open pixel, a click, an unsubscribe), as the payload of a signed
// token, and the rewriting of an email's HTML so its links and its pixel go through FlowTrack.
// Pure: the signing is crypto/'s, the URLs are the caller's.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::domain {

enum class track_kind : char { open = 'o', click = 'c', unsubscribe = 'u' };

/// One tracked thing: who received which email, and for a click the URL it leads to (which was
/// in the email, since only FlowTrack signs these).
struct track_ref {
  track_kind kind = track_kind::open;
  std::string workspace_id;
  std::string lead_id;
  std::string execution_id;  ///< may be empty
  std::string url;           ///< click only
};

/// The purpose tracking tokens are signed for (crypto::keyring::sign).
inline constexpr std::string_view k_tracking_purpose = "tracking";

/// Where a tracked thing is served, for its signed token: /t/o/{token}.gif, /t/c/{token},
/// /t/u/{token}.
std::string tracking_path(track_kind kind, std::string_view token);

/// The token payload of a reference, and back (nullopt for anything malformed).
std::string encode_track_ref(const track_ref& r);
std::optional<track_ref> decode_track_ref(std::string_view payload);

/// The HTML with every http(s) link of an `<a href>` replaced by `click_url(original URL)` (the
/// original as a browser would follow it: entities decoded), and `pixel_url` as a 1x1 image
/// before `</body>` (or at the end). Other links (mailto:, tel:, #anchors) are left alone.
std::string track_html(std::string_view html, const std::function<std::string(std::string_view)>& click_url,
                       std::string_view pixel_url);

}  // namespace flowtrack::domain
