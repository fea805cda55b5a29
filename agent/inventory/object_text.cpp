#include "agent/inventory/object_text.h"

#include <algorithm>

namespace easgate::agent {

std::string partnershipKey(std::string_view identity) {
  std::string key = lowerAscii(identity);
  std::replace(key.begin(), key.end(), '\\', '/');
  return key;
}

std::string propertyText(const powershell::PsObject& object, std::string_view property) {
  return propertyText(powershell::PsObjectView(object), property);
}

std::string propertyText(const powershell::PropertyView& object, std::string_view property) {
  return object.display(property).value_or(std::string());
}

std::vector<std::string> propertyList(const powershell::PsObject& object,
                                      std::string_view property) {
  return powershell::PsObjectView(object).list(property);
}

}  // namespace easgate::agent
