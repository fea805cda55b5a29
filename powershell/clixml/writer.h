#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "powershell/clixml/ps_value.h"

namespace easgate::powershell {

// Writes PsValues as a CLIXML document that PowerShell's Import-Clixml and our reader accept.
// Type-name lists shared between objects are written once (TN, then TNRef); an object that
// appears twice within one top-level value is written once and then referenced (Ref).
// Output can be taken in pieces, so documents of any size stream in bounded memory.
class ClixmlWriter {
 public:
  struct Options {
    bool indent = false;  // two-space indentation and line breaks, as Export-Clixml writes
  };

  ClixmlWriter();
  explicit ClixmlWriter(Options options);

  // Appends one top-level value.
  void write(const PsValue& value);
  // Returns what has been written since the last call and forgets it.
  std::string takeOutput();
  // Closes the document and returns the rest of it; the writer is done afterwards.
  std::string finish();

 private:
  void writeValue(const PsValue& value, const std::string* name, int depth);
  void writeObject(const PsObject& object, const std::string* name, int depth);
  void writeProperties(const char* element, const std::vector<PsProperty>& properties, int depth);
  void open(const char* element, const std::string* name, int depth);
  void newline(int depth);

  Options options_;
  std::string out_;
  int next_object_id_ = 0;
  int next_type_names_id_ = 0;
  // Objects seen in the current top-level value, which keeps them alive while it is written.
  std::unordered_map<const PsObject*, int> objects_;
  // Type-name lists of the whole document; holding them keeps their addresses unique.
  std::unordered_map<const std::vector<std::string>*, std::pair<int, PsTypeNames>> type_names_;
};

// A whole document holding `values`.
std::string writeClixml(const std::vector<PsValue>& values, ClixmlWriter::Options options = {});

}  // namespace easgate::powershell
