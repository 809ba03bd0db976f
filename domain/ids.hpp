// Random (version 4) UUIDs made in-process, so a batch can link rows before it is written.
#pragma once

#include <string>

namespace flowtrack::domain {

/// A new random UUID in canonical text form.
std::string new_uuid();

}  // namespace flowtrack::domain
