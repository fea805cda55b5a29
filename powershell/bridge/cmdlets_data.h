#pragma once

#include <string_view>

namespace easgate::powershell {

// The text of powershell/bridge/cmdlets.json, compiled in (see powershell/CMakeLists.txt).
extern const std::string_view kCmdletsJson;

}  // namespace easgate::powershell
