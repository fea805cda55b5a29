// `easgate export` as an administrator runs it: the real binary, real files, exit codes.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/service/cli_test_support.h"

namespace {

namespace fs = std::filesystem;

using easgate::testing::CliRun;
using easgate::testing::slurp;

class ExportCli : public easgate::testing::CliTest {
 protected:
  static std::string sample(const char* name) {
    return std::string("'") + EASGATE_TEST_DATA_DIR + "/clixml/" + name + "'";
  }
};

TEST_F(ExportCli, WritesCsvToStandardOutputByDefault) {
  CliRun r = run("export --from-clixml " + sample("exchange-inventory.xml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("mailboxIdentity,mailboxAddress,deviceId", 0), 0u);
  EXPECT_NE(r.out.find("tony.smith@contoso.com,F2MVK1ABC"), std::string::npos);
  EXPECT_NE(r.err.find("3 devices"), std::string::npos) << r.err;
}

TEST_F(ExportCli, WritesEachFormatToAFile) {
  for (const char* format : {"csv", "json", "ndjson"}) {
    fs::path out = dir_ / (std::string("devices.") + format);
    CliRun r = run(std::string("export --from-clixml ") + sample("exchange-inventory-ps51.xml") +
                   " --format " + format + " --out '" + out.string() + "'");
    ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
    EXPECT_TRUE(r.out.empty());
    std::string written = slurp(out);
    EXPECT_NE(written.find("ANDROIDC2591827"), std::string::npos) << format;
  }
  EXPECT_EQ(slurp(dir_ / "devices.json").front(), '[');
}

TEST_F(ExportCli, HelpExplainsTheCommand) {
  CliRun r = run("export --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--from-clixml"), std::string::npos);
  EXPECT_NE(r.out.find("Export-Clixml"), std::string::npos);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
  CliRun top = run("--help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("export"), std::string::npos);
}

TEST_F(ExportCli, AWrongCommandLineExitsTwoWithAHint) {
  CliRun no_command = run("");
  EXPECT_EQ(no_command.exit_code, 2);
  CliRun bad_format =
      run("export --from-clixml " + sample("exchange-inventory.xml") + " --format xml");
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_NE(bad_format.err.find("--help"), std::string::npos) << bad_format.err;
  CliRun both_sources = run("export --live --from-clixml " + sample("exchange-inventory.xml"));
  EXPECT_EQ(both_sources.exit_code, 2);
}

TEST_F(ExportCli, WithoutAStoreSaysWhereToGetAnInventory) {
  CliRun r = run("export --format csv --data-dir '" + (dir_ / "none").string() + "'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no store at"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--from-clixml"), std::string::npos) << r.err;
}

TEST_F(ExportCli, LiveHarvestsTheSimulatorIntoTheStoreWhichLaterExportsRead) {
  const std::string data = " --data-dir '" + (dir_ / "data").string() + "'";
  CliRun live = run("export --live" + data +
                    " --sim-arg=--mailboxes=6 --sim-arg=--devices=15 --format ndjson");
  ASSERT_EQ(live.exit_code, 0) << live.err;
  EXPECT_EQ(std::count(live.out.begin(), live.out.end(), '\n'), 15);
  EXPECT_NE(live.err.find("harvested 15 devices"), std::string::npos) << live.err;
  EXPECT_NE(live.out.find("@contoso.com"), std::string::npos) << "addresses from Get-CASMailbox";

  CliRun stored = run("export --format csv" + data);
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(std::count(stored.out.begin(), stored.out.end(), '\n'), 16) << "a header and 15 rows";
}

TEST_F(ExportCli, InvalidInputExitsFourAndLeavesTheOldOutputInPlace) {
  fs::path input = dir_ / "truncated.xml";
  std::string whole = slurp(std::string(EASGATE_TEST_DATA_DIR) + "/clixml/exchange-inventory.xml");
  std::ofstream(input, std::ios::binary) << whole.substr(0, whole.size() - 40);
  fs::path out = dir_ / "devices.csv";
  std::ofstream(out) << "yesterday's export";

  CliRun r = run("export --from-clixml '" + input.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out), "yesterday's export");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 4)
      << "input, output, stdout and stderr: no temporary file left";
}

TEST_F(ExportCli, AMissingOrUnreadableInputExitsThree) {
  CliRun missing = run("export --from-clixml '" + (dir_ / "no-such.xml").string() + "'");
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
  CliRun directory = run("export --from-clixml '" + dir_.string() + "'");
  EXPECT_EQ(directory.exit_code, 3) << directory.err;
  EXPECT_NE(directory.err.find("is a directory"), std::string::npos) << directory.err;
}

TEST_F(ExportCli, AnUnwritableOutputExitsFive) {
  CliRun r = run("export --from-clixml " + sample("exchange-inventory.xml") + " --out '" +
                 (dir_ / "missing-dir" / "out.csv").string() + "'");
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("cannot create"), std::string::npos) << r.err;
}

}  // namespace
