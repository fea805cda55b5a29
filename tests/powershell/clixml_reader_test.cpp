// Every CLIXML element from hand-written vectors that follow MS-PSRP 2.2.5.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "clixml_test_support.h"
#include "powershell/clixml/reader.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell {
namespace {

using namespace std::string_literals;
using testing::objs;
using testing::parseOk;
using testing::parseOne;

TEST(ClixmlReader, ReadsAnEmptyDocumentInEitherForm) {
  EXPECT_TRUE(parseOk(objs("")).empty());
  EXPECT_TRUE(parseOk("<Objs Version=\"1.1.0.1\" />").empty());
}

TEST(ClixmlReader, ReadsTopLevelPrimitivesNotOnlyObjects) {
  auto values = parseOk(objs("<S>first</S><I32>2</I32><Nil />"));
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0].asText(), "first");
  EXPECT_EQ(values[1].asSigned(), 2);
  EXPECT_TRUE(values[2].isNil());
}

TEST(ClixmlReader, ReadsStringsWithEscapesEntitiesAndSignificantWhitespace) {
  EXPECT_EQ(parseOne("<S>a_x000D__x000A_b &amp; &lt;c&gt; &#167;</S>").asText(), "a\r\nb & <c> §");
  EXPECT_EQ(parseOne("<S>   </S>").asText(), "   ");
  EXPECT_EQ(parseOne("<S />").asText(), "");
  EXPECT_EQ(parseOne("<S>_xD83D__xDCF1_</S>").asText(), "📱");
  EXPECT_EQ(parseOne("<S><![CDATA[<raw>]]></S>").asText(), "<raw>");
}

TEST(ClixmlReader, ReadsEveryIntegerTypeAndKeepsItsType) {
  struct Case {
    const char* xml;
    PsType type;
    std::int64_t value;
  };
  for (const Case& c : {Case{"<SB>-128</SB>", PsType::kSByte, -128},
                        Case{"<I16>-32768</I16>", PsType::kInt16, -32768},
                        Case{"<I32>2147483647</I32>", PsType::kInt32, 2147483647},
                        Case{"<I64>-9223372036854775808</I64>", PsType::kInt64, INT64_MIN}}) {
    PsValue v = parseOne(c.xml);
    EXPECT_EQ(v.type(), c.type) << c.xml;
    EXPECT_EQ(v.asSigned(), c.value) << c.xml;
  }
  struct UCase {
    const char* xml;
    PsType type;
    std::uint64_t value;
  };
  for (const UCase& c : {UCase{"<By>255</By>", PsType::kByte, 255},
                         UCase{"<U16>65535</U16>", PsType::kUInt16, 65535},
                         UCase{"<U32>4294967295</U32>", PsType::kUInt32, 4294967295u},
                         UCase{"<U64>18446744073709551615</U64>", PsType::kUInt64, UINT64_MAX},
                         UCase{"<C>97</C>", PsType::kChar, 97}}) {
    PsValue v = parseOne(c.xml);
    EXPECT_EQ(v.type(), c.type) << c.xml;
    EXPECT_EQ(v.asUnsigned(), c.value) << c.xml;
  }
  EXPECT_EQ(parseOne("<C>167</C>").display(), "§");
}

TEST(ClixmlReader, ReadsBooleansFloatsAndDecimals) {
  EXPECT_EQ(parseOne("<B>true</B>").asBool(), true);
  EXPECT_EQ(parseOne("<B>false</B>").asBool(), false);
  EXPECT_EQ(parseOne("<Db>1.5E+20</Db>").asReal(), 1.5e20);
  EXPECT_TRUE(std::isinf(*parseOne("<Db>-INF</Db>").asReal()));
  EXPECT_TRUE(std::isnan(*parseOne("<Sg>NaN</Sg>").asReal()));
  PsValue single = parseOne("<Sg>0.1</Sg>");
  EXPECT_EQ(single.type(), PsType::kSingle);
  EXPECT_EQ(single.asReal(), static_cast<double>(0.1f));
  PsValue dec = parseOne("<D>79228162514264337593543950335</D>");
  EXPECT_EQ(dec.type(), PsType::kDecimal);
  EXPECT_EQ(dec.asText(), "79228162514264337593543950335");
}

TEST(ClixmlReader, ReadsDateTimesWithTheirKindAndOffset) {
  auto utc = parseOne("<DT>2024-03-05T09:14:27.1234567Z</DT>").asDateTime();
  ASSERT_TRUE(utc);
  EXPECT_EQ(utc->kind, DateTimeKind::kUtc);
  auto local = parseOne("<DT>2024-03-05T10:14:27.1234567+01:00</DT>").asDateTime();
  ASSERT_TRUE(local);
  EXPECT_EQ(local->kind, DateTimeKind::kOffset);
  EXPECT_EQ(local->utcTicks(), utc->utcTicks());
  auto unspecified = parseOne("<DT>2024-03-05T09:14:27</DT>").asDateTime();
  ASSERT_TRUE(unspecified);
  EXPECT_EQ(unspecified->kind, DateTimeKind::kUnspecified);
}

TEST(ClixmlReader, ReadsTimeSpansGuidsUrisVersionsAndBytes) {
  PsValue ts = parseOne("<TS>PT9.0269026S</TS>");
  EXPECT_EQ(ts.type(), PsType::kTimeSpan);
  EXPECT_EQ(ts.asSigned(), 90269026);
  EXPECT_EQ(parseOne("<G>3F2504E0-4F89-11D3-9A0C-0305E82C3301</G>").asText(),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_EQ(parseOne("<URI>http://ex01/PowerShell/?a=1&amp;b=2</URI>").asText(),
            "http://ex01/PowerShell/?a=1&b=2");
  EXPECT_EQ(parseOne("<Version>15.2.1118.7</Version>").asText(), "15.2.1118.7");
  PsValue ba = parseOne("<BA>AQID</BA>");
  const auto* bytes = ba.asBytes();
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(*bytes, (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST(ClixmlReader, ReadsXmlDocumentsScriptBlocksAndSecureStringsAsText) {
  PsValue xd = parseOne("<XD>&lt;a&gt;x&lt;/a&gt;</XD>");
  EXPECT_EQ(xd.type(), PsType::kXmlDocument);
  EXPECT_EQ(xd.asText(), "<a>x</a>");
  PsValue sbk = parseOne("<SBK>Remove-Item C:\\ -Recurse</SBK>");
  EXPECT_EQ(sbk.type(), PsType::kScriptBlock);
  EXPECT_EQ(sbk.asText(), "Remove-Item C:\\ -Recurse");
  PsValue ss = parseOne("<SS>76492d1116743f0423413b16050a5345</SS>");
  EXPECT_EQ(ss.type(), PsType::kSecureString);
}

TEST(ClixmlReader, ReadsAnObjectWithTypeNamesToStringAndBothPropertySets) {
  PsValue v = parseOne(R"(<Obj RefId="0">
      <TN RefId="0"><T>Deserialized.Contoso.Widget</T><T>Deserialized.System.Object</T></TN>
      <ToString>widget_x0020_one</ToString>
      <Props><S N="Name">one</S><I32 N="Size">3</I32></Props>
      <MS><S N="PSComputerName">ex01</S><S N="odd_x0020_name">x</S></MS>
    </Obj>)");
  const PsObject* o = v.asObject();
  ASSERT_NE(o, nullptr);
  ASSERT_TRUE(o->type_names);
  EXPECT_EQ(*o->type_names, (std::vector<std::string>{"Deserialized.Contoso.Widget",
                                                      "Deserialized.System.Object"}));
  EXPECT_TRUE(o->hasType("Contoso.Widget"));
  EXPECT_EQ(o->to_string, "widget one");
  EXPECT_EQ(o->adapted.size(), 2u);
  EXPECT_EQ(o->extended.size(), 2u);
  ASSERT_NE(o->property("name"), nullptr);  // PowerShell ignores case in property names
  EXPECT_EQ(o->property("NAME")->asText(), "one");
  EXPECT_EQ(o->property("PSComputerName")->asText(), "ex01");
  EXPECT_NE(o->property("odd name"), nullptr);
  EXPECT_EQ(o->property("missing"), nullptr);
}

TEST(ClixmlReader, SharesTypeNameListsThroughTNRef) {
  auto values = parseOk(objs(R"(
      <Obj RefId="0"><TN RefId="0"><T>A</T></TN></Obj>
      <Obj RefId="1"><TNRef RefId="0" /></Obj>)"));
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].asObject()->type_names, values[1].asObject()->type_names);
}

TEST(ClixmlReader, ReadsAnEnumAsAnObjectWithItsNameAndValue) {
  PsValue v = parseOne(R"(<Obj RefId="1">
      <TN RefId="1"><T>Microsoft.Exchange.Data.Directory.SystemConfiguration.DeviceAccessState</T>
        <T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN>
      <ToString>Allowed</ToString><I32>1</I32></Obj>)");
  EXPECT_EQ(v.display(), "Allowed");
  ASSERT_TRUE(v.asObject()->base_value);
  EXPECT_EQ(v.asObject()->base_value->asSigned(), 1);
}

TEST(ClixmlReader, ReadsListEnumerableStackAndQueueContainers) {
  struct Case {
    const char* element;
    PsContainer kind;
  };
  for (const Case& c : {Case{"LST", PsContainer::kList}, Case{"IE", PsContainer::kEnumerable},
                        Case{"STK", PsContainer::kStack}, Case{"QUE", PsContainer::kQueue}}) {
    std::string e = c.element;
    PsValue v =
        parseOne("<Obj RefId=\"0\"><" + e + "><S>a</S><I32>1</I32><Nil /></" + e + "></Obj>");
    const PsObject* o = v.asObject();
    ASSERT_NE(o, nullptr) << e;
    EXPECT_EQ(o->container, c.kind) << e;
    ASSERT_EQ(o->items.size(), 3u) << e;
    EXPECT_EQ(o->items[0].asText(), "a");
    EXPECT_EQ(o->items[1].asSigned(), 1);
    EXPECT_TRUE(o->items[2].isNil());
  }
}

TEST(ClixmlReader, ReadsADictionaryWithEntriesInAnyOrder) {
  PsValue v = parseOne(R"(<Obj RefId="0">
      <TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN>
      <DCT>
        <En><S N="Key">Add</S><Obj N="Value" RefId="1"><LST><S>A</S><S>B</S></LST></Obj></En>
        <En><Obj N="Value" RefId="2"><LST><S>C</S></LST></Obj><S N="Key">Remove</S></En>
      </DCT></Obj>)");
  const PsObject* o = v.asObject();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->container, PsContainer::kDictionary);
  ASSERT_EQ(o->entries.size(), 2u);
  EXPECT_EQ(o->entries[0].key.asText(), "Add");
  EXPECT_EQ(o->entries[0].value.asObject()->items.size(), 2u);
  EXPECT_EQ(o->entries[1].key.asText(), "Remove");
  EXPECT_EQ(o->entries[1].value.asObject()->items[0].asText(), "C");
}

TEST(ClixmlReader, ResolvesRefToTheSameObjectWithinAndAcrossValues) {
  auto values = parseOk(objs(R"(
      <Obj RefId="0"><Props>
        <Obj N="Owner" RefId="1"><ToString>tony</ToString></Obj>
        <Ref N="Manager" RefId="1" />
      </Props></Obj>
      <Ref RefId="1" />)"));
  ASSERT_EQ(values.size(), 2u);
  const PsObject* o = values[0].asObject();
  EXPECT_EQ(o->property("Owner")->asObject(), o->property("Manager")->asObject());
  EXPECT_EQ(values[1].asObject(), o->property("Owner")->asObject());
}

TEST(ClixmlReader, ReadsAnExtendedPrimitive) {
  PsValue v = parseOne(R"(<Obj RefId="0"><S>hello</S><MS><S N="Note">added</S></MS></Obj>)");
  EXPECT_EQ(v.display(), "hello");
  EXPECT_EQ(v.asObject()->property("Note")->asText(), "added");
}

TEST(ClixmlReader, SkipsThePreambleOfPwshOutputFormatXml) {
  auto values = parseOk("#< CLIXML\n" + objs("<S S=\"Output\">hi</S>"));
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].asText(), "hi");
}

TEST(ClixmlReader, AcceptsDeclarationCommentsAndCrLf) {
  auto values = parseOk("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- saved -->\r\n" +
                        objs("\r\n  <!-- one -->\r\n  <S>x</S>\r\n") + "\r\n<!-- end -->\r\n");
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].asText(), "x");
}

TEST(ClixmlReader, AttributesMayHoldAngleBracketsAndEitherQuote) {
  auto values = parseOk(objs(R"(<Obj RefId='0'><Props><S N="a>b">1</S></Props></Obj>)"));
  ASSERT_EQ(values.size(), 1u);
  EXPECT_NE(values[0].asObject()->property("a>b"), nullptr);
}

TEST(ClixmlReader, ReadsUtf16LittleEndianFilesAsWindowsPowerShellWritesThem) {
  std::string utf16 = "\xFF\xFE"s;
  for (char c : objs("<S>caf\xC3\xA9</S>")) {
    utf16 += c;
    utf16 += '\0';
  }
  // "é" was two UTF-8 bytes; write its UTF-16 code unit instead.
  auto at = utf16.find("\xC3\0\xA9\0"s);
  utf16.replace(at, 4, "\xE9\0"s);
  auto values = parseOk(utf16);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].asText(), "café");
}

TEST(ClixmlReader, StreamsValuesAndReportsProgress) {
  auto reader = ClixmlReader::fromBytes(objs("<S>a</S><S>b</S>"));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->position(), 0u);
  auto first = reader->next();
  ASSERT_TRUE(first.ok() && first.value());
  EXPECT_EQ(first.value()->asText(), "a");
  std::size_t after_first = reader->position();
  EXPECT_GT(after_first, 0u);
  auto second = reader->next();
  ASSERT_TRUE(second.ok() && second.value());
  EXPECT_GT(reader->position(), after_first);
  auto end = reader->next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end.value());
  EXPECT_EQ(reader->position(), reader->size());
}

TEST(ClixmlReader, ReadsObjectsOneByOneWithoutBuildingThemAsTheTreeReadsThem) {
  // What the harvest reads: a batch's objects through nextObjects(). parseOk() checks every
  // property against the tree; here, the objects seen and the cases the flat reading treats
  // apart: text split by CDATA, escaped names and text, a <Ref> to an object read flat before
  // (read again from the document), an enum, a nested list, items that are not objects.
  std::string document = objs(
      "<Obj RefId=\"0\"><TN RefId=\"0\"><T>System.Object[]</T></TN><LST>"
      "<Obj RefId=\"1\"><TN RefId=\"1\"><T>Deserialized.MobileDevice</T></TN>"
      "<ToString>ann/iPhone</ToString><Props>"
      "<S N=\"Device_x005F_Id\">abc_x000A_def</S><S N=\"Split\">a<![CDATA[<b>]]>c</S>"
      "<DT N=\"FirstSyncTime\">2026-01-02T03:04:05Z</DT><Nil N=\"Empty\" />"
      "<Obj N=\"DeviceAccessState\" RefId=\"2\"><TN RefId=\"2\"><T>System.Enum</T></TN>"
      "<ToString>Allowed</ToString><I32>1</I32></Obj></Props>"
      "<MS><S N=\"Split\">extended</S><I32 N=\"Count\">7</I32>"
      "<Obj N=\"Ids\" RefId=\"5\"><LST><S>a</S><Nil /><S>b</S></LST></Obj></MS></Obj>"
      "<S>not an object</S><Nil />"
      "<Obj RefId=\"3\"><TNRef RefId=\"0\" /><LST><Obj RefId=\"4\"><TNRef RefId=\"1\" />"
      "<Props><Ref N=\"Twin\" RefId=\"1\" /><S N=\"DeviceId\">nested</S></Props></Obj>"
      "</LST></Obj></LST></Obj>");
  parseOk(document);
  std::vector<std::vector<std::optional<std::string>>> seen;
  std::vector<std::vector<std::string>> lists;
  auto read = readClixmlObjects(document, [&](const PropertyView& o) {
    seen.push_back({o.display("device_id"), o.display("split"), o.display("FirstSyncTime"),
                    o.display("Empty"), o.display("DeviceAccessState"), o.display("Count"),
                    o.display("Twin"), o.display("DeviceId")});
    EXPECT_EQ(o.dateTime("Split"), std::nullopt);
    lists.push_back(o.list("ids"));
  });
  ASSERT_TRUE(read.ok()) << read.error().message;
  using S = std::optional<std::string>;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::vector<S>{"abc\ndef", "a<b>c", "2026-01-02T03:04:05Z", std::nullopt,
                                     "Allowed", "7", std::nullopt, std::nullopt}));
  EXPECT_EQ(seen[1], (std::vector<S>{std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                                     std::nullopt, std::nullopt, "ann/iPhone", "nested"}));
  EXPECT_EQ(lists, (std::vector<std::vector<std::string>>{{"a", "b"}, {}}));
}

TEST(ClixmlReader, FindsAValuesEndPastQuotedMarkupAndComments) {
  auto values =
      parseOk(objs("<Obj RefId=\"0\"><MS><S N=\"a>b/\">x</S><!-- </Obj> <S> --><S N='c\"'>y</S>"
                   "<?pi </MS> ?></MS></Obj><S>after</S>"));
  ASSERT_EQ(values.size(), 2u);
  const PsObjectView o(*values[0].asObject());
  EXPECT_EQ(o.display("a>b/"), "x");
  EXPECT_EQ(o.display("c\""), "y");
  EXPECT_EQ(values[1].asText(), "after");
}

TEST(ClixmlReader, ReadsEachObjectsOwnPropertiesWhenOneDocumentsObjectsDifferInShape) {
  // Objects read one by one are asked for the same names again and again; what is found must
  // be each object's own: its names, their order, Props (adapted) before MS (extended), the
  // first of two alike.
  std::string items;
  for (const char* members : {
           "<Props><S N=\"A\">1</S><S N=\"B\">2</S></Props><MS><S N=\"C\">3</S></MS>",
           "<Props><S N=\"B\">4</S><S N=\"A\">5</S></Props>",
           "<Props><S N=\"A\">6</S></Props><MS><S N=\"B\">7</S></MS>",
           "<Props><S N=\"A\">8</S><S N=\"B\">9</S></Props><MS><S N=\"C\">10</S></MS>",
           "<Props><S N=\"C\">p</S></Props><MS><S N=\"C\">m</S></MS>",
           "<MS><S N=\"C\">m2</S></MS><Props><S N=\"C\">p2</S></Props>",
           "<Props><S N=\"A\">first</S><S N=\"A\">second</S></Props>",
           "",
       }) {
    items += "<Obj>" + std::string(members) + "</Obj>";
  }
  std::string document = objs("<Obj RefId=\"0\"><LST>" + items + "</LST></Obj>");
  parseOk(document);
  using S = std::optional<std::string>;
  std::vector<std::vector<S>> seen;
  auto read = readClixmlObjects(document, [&](const PropertyView& o) {
    seen.push_back({o.display("a"), o.display("B"), o.display("c")});
  });
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(seen, (std::vector<std::vector<S>>{{"1", "2", "3"},
                                               {"5", "4", std::nullopt},
                                               {"6", "7", std::nullopt},
                                               {"8", "9", "10"},
                                               {std::nullopt, std::nullopt, "p"},
                                               {std::nullopt, std::nullopt, "p2"},
                                               {"first", std::nullopt, std::nullopt},
                                               {std::nullopt, std::nullopt, std::nullopt}}));
}

TEST(ClixmlReader, ReadsTheShippedExchangeSampleInBothEncodingsAlike) {
  auto load = [](const char* name) {
    std::ifstream in(std::string(EASGATE_TEST_DATA_DIR) + "/clixml/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  auto utf8 = parseOk(load("exchange-inventory.xml"));
  auto utf16 = parseOk(load("exchange-inventory-ps51.xml"));
  ASSERT_EQ(utf8.size(), 7u);
  EXPECT_EQ(utf8, utf16);
}

}  // namespace
}  // namespace easgate::powershell

namespace easgate::powershell {
namespace {

using testing::objs;

// A streaming caller drops each value; a later <Ref> to it must still give the same content.
TEST(ClixmlReaderRefs, ARefToAReleasedObjectIsReadAgainFromTheDocument) {
  const std::string document = objs(R"(
      <Obj RefId="0"><TN RefId="0"><T>Owner</T></TN><ToString>tony</ToString>
        <Props><Obj N="Phone" RefId="1"><TNRef RefId="0" /><ToString>iPhone</ToString></Obj></Props></Obj>
      <Ref RefId="1" />
      <Ref RefId="0" />)");
  auto reader = ClixmlReader::fromBytes(document);
  ASSERT_TRUE(reader.ok());
  std::string first_phone;
  {
    auto first = reader->next();
    ASSERT_TRUE(first.ok() && first.value());
    first_phone = *first.value()->asObject()->property("Phone")->display();
  }  // released here
  auto phone = reader->next();
  ASSERT_TRUE(phone.ok()) << phone.error().message;
  ASSERT_TRUE(phone.value());
  EXPECT_EQ(phone.value()->display(), first_phone);
  auto owner = reader->next();
  ASSERT_TRUE(owner.ok()) << owner.error().message;
  ASSERT_TRUE(owner.value());
  EXPECT_EQ(owner.value()->display(), "tony");
  EXPECT_EQ(owner.value()->asObject()->property("Phone")->display(), "iPhone");
  ASSERT_TRUE(reader->next().ok());
}

TEST(ClixmlReaderRefs, AReadOfTheWholeDocumentSharesReferencedObjects) {
  auto values =
      testing::parseOk(objs(R"(<Obj RefId="0"><ToString>a</ToString></Obj><Ref RefId="0" />)"));
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].asObject(), values[1].asObject());
}

TEST(ClixmlReaderRefs, ManyRefsToALargeReleasedObjectAreRefusedNotReparsedForever) {
  std::string big = "<Obj RefId=\"0\"><LST>";
  for (int i = 0; i < 2000; ++i) big += "<S>padding padding padding</S>";
  big += "</LST></Obj>";
  std::string refs;
  for (int i = 0; i < 200; ++i) refs += "<Ref RefId=\"0\" />";
  auto reader = ClixmlReader::fromBytes(objs(big + refs));
  ASSERT_TRUE(reader.ok());
  std::optional<ClixmlError> error;
  for (int i = 0; i < 250 && !error; ++i) {
    auto value = reader->next();  // each value is released at once
    if (!value)
      error = value.error();
    else if (!value.value())
      break;
  }
  ASSERT_TRUE(error) << "the budget should have stopped the re-parsing";
  EXPECT_NE(error->message.find("too many <Ref>s"), std::string::npos) << error->message;
}

}  // namespace
}  // namespace easgate::powershell
