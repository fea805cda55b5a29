#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/text/ascii.h"
#include "powershell/clixml/property_view.h"
#include "powershell/clixml/ps_value.h"

// Small readings of Exchange's objects and names that several parts of the agent need.
namespace easgate::agent {

// ASCII lower case (common/text/ascii.h): Exchange compares IDs and identities without case.
using text::lowerAscii;

// A partnership Identity as a key: lower case, '/' for either separator (on-premises writes
// "mbx/ExchangeActiveSyncDevices/...", Exchange Online "mbx\ExchangeActiveSyncDevices\...").
std::string partnershipKey(std::string_view identity);

// A property's display text ("" when absent or null), and a list property's items.
std::string propertyText(const powershell::PsObject& object, std::string_view property);
std::string propertyText(const powershell::PropertyView& object, std::string_view property);
std::vector<std::string> propertyList(const powershell::PsObject& object,
                                      std::string_view property);

}  // namespace easgate::agent
