#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "powershell/clixml/reader.h"

namespace easgate::powershell::testing {

// A CLIXML document around `values`, as PSSerializer writes it.
inline std::string objs(const std::string& values) {
  return "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
         values + "</Objs>";
}

// The values of a document that must parse; fails the test otherwise.
inline std::vector<PsValue> parseOk(const std::string& document) {
  auto result = readClixml(document);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : std::vector<PsValue>{};
}

// The one value of a one-value document.
inline PsValue parseOne(const std::string& value_xml) {
  auto values = parseOk(objs(value_xml));
  EXPECT_EQ(values.size(), 1u);
  return values.empty() ? PsValue() : values.front();
}

// The error a document must fail with.
inline ClixmlError parseError(const std::string& document) {
  auto result = readClixml(document);
  EXPECT_FALSE(result.ok()) << "expected an error for: " << document;
  return result.ok() ? ClixmlError{} : result.error();
}

}  // namespace easgate::powershell::testing
