#include "powershell/clixml/writer.h"

#include <gtest/gtest.h>

#include <limits>

#include "clixml_test_support.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell {
namespace {

using namespace std::string_literals;

std::shared_ptr<PsObject> makeObject(std::vector<std::string> types) {
  auto o = std::make_shared<PsObject>();
  o->type_names = std::make_shared<const std::vector<std::string>>(std::move(types));
  return o;
}

// One value of every type CLIXML has, nested in an object with every container.
std::vector<PsValue> everyKindOfValue() {
  std::vector<PsValue> primitives = {
      PsValue(),
      PsValue::text(PsType::kString, "line1\r\nline2\t_x0041_ <&> \"q\" 📱 §"s + '\0'),
      PsValue::unsignedInt(PsType::kChar, 0xE9),
      PsValue::boolean(true),
      PsValue::dateTime(*scalars::parseDateTime("2024-03-05T09:14:27.1234567Z")),
      PsValue::dateTime(*scalars::parseDateTime("2024-03-05T10:14:27.5+01:00")),
      PsValue::dateTime(*scalars::parseDateTime("2024-03-05T09:14:27")),
      PsValue::signedInt(PsType::kTimeSpan, -90269026),
      PsValue::unsignedInt(PsType::kByte, 255),
      PsValue::signedInt(PsType::kSByte, -128),
      PsValue::unsignedInt(PsType::kUInt16, 65535),
      PsValue::signedInt(PsType::kInt16, -32768),
      PsValue::unsignedInt(PsType::kUInt32, 4294967295u),
      PsValue::signedInt(PsType::kInt32, std::numeric_limits<std::int32_t>::min()),
      PsValue::unsignedInt(PsType::kUInt64, std::numeric_limits<std::uint64_t>::max()),
      PsValue::signedInt(PsType::kInt64, std::numeric_limits<std::int64_t>::min()),
      PsValue::real(PsType::kSingle, static_cast<double>(0.1f)),
      PsValue::real(PsType::kDouble, 0.1),
      PsValue::real(PsType::kDouble, std::numeric_limits<double>::quiet_NaN()),
      PsValue::real(PsType::kDouble, -std::numeric_limits<double>::infinity()),
      PsValue::text(PsType::kDecimal, "-123.4500"),
      PsValue::text(PsType::kGuid, "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
      PsValue::text(PsType::kUri, "http://ex01/PowerShell/?a=1&b=2"),
      PsValue::text(PsType::kVersion, "15.2.1118.7"),
      PsValue::text(PsType::kXmlDocument, "<a>x</a>"),
      PsValue::text(PsType::kScriptBlock, "Get-Date"),
      PsValue::text(PsType::kSecureString, "76492d1116743f0423413b16050a5345"),
      PsValue::bytes({0, 1, 2, 254, 255}),
  };
  auto shared = makeObject({"Deserialized.Contoso.Owner"});
  shared->to_string = "owner";

  auto list = makeObject({"System.Collections.ArrayList", "System.Object"});
  list->container = PsContainer::kList;
  list->items = primitives;

  auto dictionary = makeObject({"System.Collections.Hashtable", "System.Object"});
  dictionary->container = PsContainer::kDictionary;
  dictionary->entries.push_back({PsValue::text(PsType::kString, "Add"), PsValue::object(list)});
  dictionary->entries.push_back({PsValue::signedInt(PsType::kInt32, 2), PsValue()});

  auto enumeration = makeObject({"Contoso.State", "System.Enum"});
  enumeration->to_string = "Allowed";
  enumeration->base_value = PsValue::signedInt(PsType::kInt32, 1);

  auto root = makeObject({"Deserialized.Contoso.Widget", "Deserialized.System.Object"});
  root->to_string = "widget";
  root->adapted = {
      {"List", PsValue::object(list)},         {"Table", PsValue::object(dictionary)},
      {"State", PsValue::object(enumeration)}, {"Owner", PsValue::object(shared)},
      {"SameOwner", PsValue::object(shared)},  {"name_with_x_and <odd> \"chars\"", PsValue()}};
  root->extended = {{"PSComputerName", PsValue::text(PsType::kString, "ex01")}};
  for (auto kind : {PsContainer::kEnumerable, PsContainer::kStack, PsContainer::kQueue}) {
    auto c = makeObject({"Container"});
    c->container = kind;
    c->items = {PsValue::text(PsType::kString, "item")};
    root->extended.push_back(
        {"Container" + std::to_string(static_cast<int>(kind)), PsValue::object(c)});
  }
  auto sibling = std::make_shared<PsObject>(*root);  // same type-name list: written as TNRef
  return {PsValue::object(root), PsValue::object(sibling), primitives[1], PsValue()};
}

TEST(ClixmlWriter, WhatItWritesReadsBackAsTheSameValues) {
  for (bool indent : {false, true}) {
    auto values = everyKindOfValue();
    std::string document = writeClixml(values, {indent});
    auto back = readClixml(document);
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << document;
    EXPECT_EQ(back.value(), values) << document;
  }
}

TEST(ClixmlWriter, WritesSharedTypeNamesOnceAndRepeatedObjectsAsRefs) {
  auto values = everyKindOfValue();
  std::string document = writeClixml(values);
  EXPECT_NE(document.find("<TNRef RefId=\"0\" />"), std::string::npos);
  EXPECT_NE(document.find("<Ref N=\"SameOwner\" RefId="), std::string::npos);
  auto back = readClixml(document);
  ASSERT_TRUE(back.ok());
  const PsObject* root = back.value()[0].asObject();
  EXPECT_EQ(root->property("Owner")->asObject(), root->property("SameOwner")->asObject());
}

TEST(ClixmlWriter, WritesTheDocumentPowerShellExpects) {
  auto o = makeObject({"Deserialized.System.Object"});
  o->adapted = {{"Tab", PsValue::text(PsType::kString, "a\tb")}};
  EXPECT_EQ(writeClixml({PsValue::object(o)}),
            "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
            "<Obj RefId=\"0\"><TN RefId=\"0\"><T>Deserialized.System.Object</T></TN>"
            "<Props><S N=\"Tab\">a_x0009_b</S></Props></Obj></Objs>");
}

TEST(ClixmlWriter, StreamsInPiecesThatJoinIntoOneDocument) {
  ClixmlWriter writer;
  std::string document = writer.takeOutput();
  writer.write(PsValue::text(PsType::kString, "one"));
  document += writer.takeOutput();
  writer.write(PsValue::text(PsType::kString, "two"));
  document += writer.finish();
  auto back = readClixml(document);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back.value().size(), 2u);
  EXPECT_EQ(back.value()[1].asText(), "two");
}

}  // namespace
}  // namespace easgate::powershell
