#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "powershell/clixml/clixml_error.h"

namespace easgate::powershell {

// Where one top-level value of a CLIXML document lies in its text.
struct ValueSpan {
  std::size_t begin = 0;
  std::size_t end = 0;  // one past the value's closing '>'
};

// Splits a CLIXML document into its top-level values without parsing them, so a document of
// any size is read one value at a time. Accepts the `#< CLIXML` preamble of
// `pwsh -OutputFormat xml`, an XML declaration, comments and processing instructions; rejects
// a DOCTYPE (no entity expansion, ever). Tag nesting inside a value is checked by the parser
// the value goes to; this only finds where each value ends.
class DocumentScanner {
 public:
  friend Result<std::size_t, ClixmlError> findElementEnd(std::string_view text, std::size_t begin);

  explicit DocumentScanner(std::string_view text) : text_(text) {}

  // The next value, nullopt after a well-formed </Objs>, or an error (with its position).
  Result<std::optional<ValueSpan>, ClixmlError> next();

  std::size_t position() const { return pos_; }

 private:
  enum class State { kProlog, kValues, kDone };

  Result<std::optional<ValueSpan>, ClixmlError> readProlog();
  Result<std::optional<ValueSpan>, ClixmlError> readValue();
  Result<std::optional<ValueSpan>, ClixmlError> readEpilog();
  // Skips a comment, PI or CDATA section at pos_ (which is at '<'); false if there is none.
  Result<bool, ClixmlError> skipMarkup();
  // Moves pos_ past the '>' ending the tag that starts at pos_; reports a self-closing tag.
  Result<bool, ClixmlError> skipTag();
  void skipSpace();
  ClixmlError fail(ClixmlErrc code, std::size_t at, std::string what) const;

  std::string_view text_;
  std::size_t pos_ = 0;
  State state_ = State::kProlog;
};

// Where the element starting at `begin` (its '<') ends: one past its closing '>'.
Result<std::size_t, ClixmlError> findElementEnd(std::string_view text, std::size_t begin);

}  // namespace easgate::powershell
