#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "powershell/clixml/reader.h"

namespace easgate::powershell::testing {

// A CLIXML document around `values`, as PSSerializer writes it.
inline std::string objs(const std::string& values) {
  return "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
         values + "</Objs>";
}

// What readClixmlObjects() (the harvest's reading, no tree built) makes of a document must be
// what the tree says: the same objects in the same order, every property with the same text,
// time and list items, names matched the same way.
inline void expectObjectsAsInTheTree(const std::string& document,
                                     const std::vector<PsValue>& values) {
  std::vector<const PsObject*> tree;
  for (const PsValue& v : values) forEachObject(v, [&](const PsObject& o) { tree.push_back(&o); });
  std::size_t seen = 0;
  auto read = readClixmlObjects(document, [&](const PropertyView& view) {
    ASSERT_LT(seen, tree.size()) << "more objects than the tree has";
    const PsObjectView expected(*tree[seen++]);
    std::vector<std::string> names = {"NoSuchProperty"};
    for (const auto* list : {&tree[seen - 1]->adapted, &tree[seen - 1]->extended}) {
      for (const PsProperty& p : *list) {
        names.push_back(p.name);
        std::string upper = p.name;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        names.push_back(upper);
      }
    }
    for (const std::string& name : names) {
      EXPECT_EQ(view.display(name), expected.display(name)) << "object " << seen << ", " << name;
      EXPECT_EQ(view.dateTime(name), expected.dateTime(name)) << "object " << seen << ", " << name;
      EXPECT_EQ(view.list(name), expected.list(name)) << "object " << seen << ", " << name;
    }
  });
  EXPECT_TRUE(read.ok()) << (read.ok() ? "" : read.error().message);
  EXPECT_EQ(seen, tree.size());
}

// The values of a document that must parse; fails the test otherwise.
inline std::vector<PsValue> parseOk(const std::string& document) {
  auto result = readClixml(document);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  if (!result.ok()) return {};
  expectObjectsAsInTheTree(document, result.value());
  return result.value();
}

// The one value of a one-value document.
inline PsValue parseOne(const std::string& value_xml) {
  auto values = parseOk(objs(value_xml));
  EXPECT_EQ(values.size(), 1u);
  return values.empty() ? PsValue() : values.front();
}

// The error a document must fail with.
// readClixmlObjects() must refuse it with the very same error.
inline ClixmlError parseError(const std::string& document) {
  auto result = readClixml(document);
  EXPECT_FALSE(result.ok()) << "expected an error for: " << document;
  if (result.ok()) return ClixmlError{};
  auto objects = readClixmlObjects(document, [](const PropertyView&) {});
  EXPECT_FALSE(objects.ok()) << "read object by object, accepted: " << document;
  if (!objects.ok()) {
    EXPECT_EQ(objects.error().code, result.error().code);
    EXPECT_EQ(objects.error().message, result.error().message);
  }
  return result.error();
}

}  // namespace easgate::powershell::testing
