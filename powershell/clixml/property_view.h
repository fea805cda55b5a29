#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "powershell/clixml/ps_value.h"

namespace easgate::powershell {

// One object's properties read by name, whatever holds them: a PsObject (PsObjectView), or an
// object ClixmlReader::nextObjects read without building it. Names are matched as
// PsObject::property matches them (case-insensitively, adapted before extended).
class PropertyView {
 public:
  virtual ~PropertyView() = default;

  // The property's text as PsValue::display gives it; nullopt when it is absent or nil.
  virtual std::optional<std::string> display(std::string_view name) const = 0;
  // The property's value when it is a <DT>.
  virtual std::optional<PsDateTime> dateTime(std::string_view name) const = 0;
  // The display texts of the items of a list property (a MultiValuedProperty), nil items
  // left out; empty when the property is absent or holds no items.
  virtual std::vector<std::string> list(std::string_view name) const = 0;
};

// The display texts of the items `value` holds, as PropertyView::list gives them.
inline std::vector<std::string> itemTexts(const PsValue* value) {
  std::vector<std::string> out;
  if (const PsObject* object = value ? value->asObject() : nullptr) {
    for (const PsValue& item : object->items) {
      if (auto text = item.display()) out.push_back(std::move(*text));
    }
  }
  return out;
}

// A PsObject read through PropertyView; refers to the object, which must outlive it.
class PsObjectView final : public PropertyView {
 public:
  explicit PsObjectView(const PsObject& object) : object_(object) {}

  std::optional<std::string> display(std::string_view name) const override {
    const PsValue* value = object_.property(name);
    return value ? value->display() : std::nullopt;
  }
  std::optional<PsDateTime> dateTime(std::string_view name) const override {
    const PsValue* value = object_.property(name);
    return value ? value->asDateTime() : std::nullopt;
  }
  std::vector<std::string> list(std::string_view name) const override {
    return itemTexts(object_.property(name));
  }

 private:
  const PsObject& object_;
};

// Calls `each` with every object in `value`: a list's (LST or IE) items one by one, nested lists
// included; values that are not objects are passed over. ClixmlReader::nextObjects visits a
// document's objects in the same way.
template <typename F>
void forEachObject(const PsValue& value, F&& each) {
  const PsObject* object = value.asObject();
  if (!object) return;
  if (object->container == PsContainer::kList || object->container == PsContainer::kEnumerable) {
    for (const auto& item : object->items) forEachObject(item, each);
    return;
  }
  each(*object);
}

}  // namespace easgate::powershell
