// Signatures under a mail's own text and what they give: phone, company, name. Internal to
// domain/mail; works on lines of text.
#pragma once

#include <string>
#include <string_view>

#include "domain/mail/lines.hpp"

namespace flowtrack::domain::mail {

/// What a signature gives; empty strings when it does not.
struct signature {
  std::string phone, company, name;
};

/// Cuts the signature off `text` (at a "-- " rule, a sign-off such as "Best regards," or "Mit
/// freundlichen Grüßen", a "Sent from my iPhone" line, or trailing short lines holding a phone or a
/// company) and reads it.
signature split_signature(lines_t& text);

/// Whether the line is only a sign-off ("Best regards,", "Cordialement", ...).
bool sign_off(std::string_view line);

/// A phone from a signature line: labelled ("Tel: ...", "M +49 ...", "Téléphone : ...") or, unless
/// `labelled_only`, a segment that is only a number. Fax numbers are skipped.
std::string phone_of_line(std::string_view line, bool labelled_only);

/// A company from a signature line: labelled ("Company: ..."), or a segment ending in a legal form
/// (GmbH, Ltd, S.A., B.V., ...).
std::string company_of_line(std::string_view line);

}  // namespace flowtrack::domain::mail
