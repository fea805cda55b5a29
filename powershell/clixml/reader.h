#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "powershell/clixml/clixml_error.h"
#include "powershell/clixml/property_view.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::powershell {

// Reads a CLIXML document (Export-Clixml, PSSerializer.Serialize, `pwsh -OutputFormat xml`)
// one top-level value at a time, so memory follows the largest value, not the document.
// Input may be UTF-8 (with or without BOM) or UTF-16 with a BOM, LF or CRLF.
class ClixmlReader {
 public:
  // Fails only when the bytes are not text in a supported encoding.
  static Result<ClixmlReader, ClixmlError> fromBytes(std::string bytes);

  ClixmlReader(ClixmlReader&&) noexcept;
  ClixmlReader& operator=(ClixmlReader&&) noexcept;
  ~ClixmlReader();

  // The next top-level value; nullopt once the document has ended with </Objs>. After an
  // error every later call returns the same error: a document is whole or it is rejected.
  Result<std::optional<PsValue>, ClixmlError> next();

  // The next top-level value for the properties of its objects: `each` is called with every
  // object in it, a list's items one by one as forEachObject() visits them, each a view valid
  // during the call. No tree of values is built for those objects, so a caller that wants a
  // few properties of many objects pays for those, not for the objects. The value is checked
  // as next() checks it; an error found part way comes after the objects before it were seen,
  // which the caller then drops. A <Ref> to an object read this way parses it again from the
  // document, as for an object a caller of next() released. False once the document has ended.
  using ObjectFn = std::function<void(const PropertyView& object)>;
  Result<bool, ClixmlError> nextObjects(const ObjectFn& each);

  // Progress through the decoded (UTF-8) text, in bytes.
  std::size_t position() const;
  std::size_t size() const;

 private:
  struct Impl;
  explicit ClixmlReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a whole document: every value, or an error; never a part presented as the whole.
Result<std::vector<PsValue>, ClixmlError> readClixml(std::string bytes);

// Reads a whole document with nextObjects(): every object in it to `each`, or an error.
Result<void, ClixmlError> readClixmlObjects(std::string bytes, const ClixmlReader::ObjectFn& each);

}  // namespace easgate::powershell
