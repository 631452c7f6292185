#pragma once

#include <string>
#include <string_view>

namespace zcrecv::sys {

/// `text` in double quotes for an error message, with `"`, `\` and every byte outside printable
/// ASCII escaped (`\"`, `\\`, `\n`, `\x1b`), so that a message about bad input stays one line
/// and shows exactly what was given.
std::string quoted(std::string_view text);

}  // namespace zcrecv::sys
