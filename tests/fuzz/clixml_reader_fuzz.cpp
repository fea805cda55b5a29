// Fuzzes the CLIXML reader with arbitrary bytes. Beyond "no crash, no sanitizer report":
// whatever the reader accepts, the writer must write back into the very same values; and
// reading object by object (readClixmlObjects, the harvest's way) accepts and refuses exactly
// what the tree does, with the same error, and sees the same objects.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "powershell/clixml/reader.h"
#include "powershell/clixml/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace easgate::powershell;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto values = readClixml(bytes);
  std::vector<const PsObject*> tree;
  if (values.ok()) {
    for (const PsValue& v : values.value())
      forEachObject(v, [&](const PsObject& o) { tree.push_back(&o); });
  }
  std::size_t seen = 0;
  auto objects = readClixmlObjects(bytes, [&](const PropertyView& view) {
    if (!values.ok()) return;  // objects before an error: the caller drops them
    if (seen >= tree.size()) std::abort();
    const PsObject& expected = *tree[seen++];
    for (const auto* list : {&expected.adapted, &expected.extended}) {
      for (const PsProperty& p : *list) {
        const PsObjectView want(expected);
        if (view.display(p.name) != want.display(p.name)) std::abort();
        if (view.dateTime(p.name) != want.dateTime(p.name)) std::abort();
        if (view.list(p.name) != want.list(p.name)) std::abort();
      }
    }
  });
  if (objects.ok() != values.ok()) std::abort();
  if (!values.ok()) {
    if (values.error().message.empty()) std::abort();  // every rejection must say why
    if (objects.error().message != values.error().message) std::abort();
    return 0;
  }
  if (seen != tree.size()) std::abort();
  auto again = readClixml(writeClixml(values.value()));
  if (!again.ok() || !(again.value() == values.value())) std::abort();
  return 0;
}
