// Fuzzes the CLIXML reader with arbitrary bytes. Beyond "no crash, no sanitizer report":
// whatever the reader accepts, the writer must write back into the very same values.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "powershell/clixml/reader.h"
#include "powershell/clixml/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace easgate::powershell;
  auto values = readClixml(std::string(reinterpret_cast<const char*>(data), size));
  if (!values.ok()) {
    if (values.error().message.empty()) std::abort();  // every rejection must say why
    return 0;
  }
  auto again = readClixml(writeClixml(values.value()));
  if (!again.ok() || !(again.value() == values.value())) std::abort();
  return 0;
}
