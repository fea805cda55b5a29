// How `easgate ctl` shows an answer to a person (service/ctl_output.h): what is inside an object
// is rows of its own, named by its path.
#include "service/ctl_output.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/json/json_value.h"

namespace easgate::service {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Rows rowsOf(const std::string& answer) {
  auto parsed = json::parseJson(answer);
  EXPECT_TRUE(parsed.ok()) << answer;
  return parsed.ok() ? tableOfAnswer(parsed.value()).rows : Rows{};
}

TEST(CtlOutput, AnObjectsMembersAndAListOfObjectsElementsAreRowsNamedByTheirPath) {
  const std::string answer =
      R"j({"harvestedAt":"2026-12-07T18:47:39Z","settings":{"defaultAccessLevel":"Allow",)j"
      R"j("adminMailRecipients":["a@contoso.com","b@contoso.com"],)j"
      R"j("rules":[{"name":"iOS 16 (DeviceOS)","accessLevel":"Quarantine"},)j"
      R"j({"name":"Android (DeviceType)","accessLevel":"Block"}],)j"
      R"j("unmodelledRules":[]},"lastApply":null,"empty":{}})j";
  EXPECT_EQ(rowsOf(answer),
            (Rows{{"harvestedAt", "2026-12-07T18:47:39Z"},
                  {"settings.defaultAccessLevel", "Allow"},
                  {"settings.adminMailRecipients", R"j(["a@contoso.com","b@contoso.com"])j"},
                  {"settings.rules[0].name", "iOS 16 (DeviceOS)"},
                  {"settings.rules[0].accessLevel", "Quarantine"},
                  {"settings.rules[1].name", "Android (DeviceType)"},
                  {"settings.rules[1].accessLevel", "Block"},
                  {"settings.unmodelledRules", "[]"},
                  {"lastApply", ""},
                  {"empty", "{}"}}));
  // A list mixing objects and values stays one row, as its JSON.
  EXPECT_EQ(rowsOf(R"j({"mixed":[{"a":1},2]})j"), (Rows{{"mixed", R"j([{"a":1},2])j"}}));
}

TEST(CtlOutput, APageIsARowPerElementWithObjectsInsideAsTheirJson) {
  auto page = json::parseJson(
      R"j({"devices":[{"deviceId":"A","wipe":{"status":"x"}}],"nextCursor":null})j");
  ASSERT_TRUE(page.ok());
  const Table table = tableOfAnswer(page.value());
  EXPECT_EQ(table.header, (std::vector<std::string>{"deviceId", "wipe"}));
  EXPECT_EQ(table.rows, (Rows{{"A", R"j({"status":"x"})j"}}));
}

TEST(CtlOutput, ATableCutsLongCellsButThoseOfItsLastColumn) {
  const std::string long_text(80, 'x');
  std::ostringstream out;
  printTable(out, Table{{"a", "b"}, {{long_text, long_text}}}, 20);
  EXPECT_EQ(out.str(),
            "a                     b\n" + std::string(17, 'x') + "...  " + long_text + "\n");
}

}  // namespace
}  // namespace easgate::service
