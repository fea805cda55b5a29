// `easgate export` as an administrator runs it: the real binary, real files, exit codes.
#include <algorithm>
#include <cstdlib>
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
  EXPECT_EQ(r.out.rfind("MailboxIdentity,PrimarySmtpAddress,DeviceId", 0), 0u);
  EXPECT_EQ(r.out.find("\r\r"), std::string::npos) << "CRLF as written, on Windows too";
  EXPECT_NE(r.out.find("tony.smith@contoso.com,F2MVK1ABC"), std::string::npos);
  EXPECT_NE(r.err.find("3 devices"), std::string::npos) << r.err;
  CliRun dash = run("export --from-clixml " + sample("exchange-inventory.xml") + " --out -");
  ASSERT_EQ(dash.exit_code, 0) << dash.err;
  EXPECT_EQ(dash.out, r.out) << "--out - is standard output";
  EXPECT_FALSE(fs::exists(fs::current_path() / "-"));
}

TEST_F(ExportCli, ColumnsAreExchangesPropertiesEveryOneItGaveAndChosenByName) {
  // The sample is what Get-MobileDevice and Get-MobileDeviceStatistics wrote: the fields that
  // were dropped before come through under the names admins' scripts use.
  CliRun all = run("export --from-clixml " + sample("exchange-inventory.xml"));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const std::string header = all.out.substr(0, all.out.find("\r\n"));
  for (const char* column :
       {"UserDisplayName", "DeviceImei", "DeviceTelephoneNumber", "DeviceMobileOperator",
        "IsManaged", "IsCompliant", "ClientVersion", "DeviceAccessControlRule",
        "LastSyncAttemptTime", "LastPolicyUpdateTime", "DevicePolicyApplicationStatus"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column << " in " << header;
  }
  CliRun some = run("export --from-clixml " + sample("exchange-inventory.xml") +
                    " --columns 'deviceid, UserDisplayName,LastSyncAttemptTime'");
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_EQ(some.out.rfind("DeviceId,UserDisplayName,LastSyncAttemptTime\r\n", 0), 0u) << some.out;
  EXPECT_NE(some.out.find("F2MVK1ABC,contoso.com/Users/Tony Smith,2024-06-30T07:59:58Z"),
            std::string::npos)
      << some.out;

  CliRun unknown = run("export --from-clixml " + sample("exchange-inventory.xml") +
                       " --columns DeviceId,Colour");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no column 'Colour'"), std::string::npos) << unknown.err;
  EXPECT_TRUE(unknown.out.empty());
}

TEST_F(ExportCli, ForExcelWritesAByteOrderMarkAndDatesExcelReads) {
  CliRun excel = run("export --excel --from-clixml " + sample("exchange-inventory.xml") +
                     " --columns DeviceId,FirstSyncTime");
  ASSERT_EQ(excel.exit_code, 0) << excel.err;
  EXPECT_EQ(excel.out.rfind("\xEF\xBB\xBF"
                            "DeviceId,FirstSyncTime\r\n",
                            0),
            0u)
      << excel.out;
  // "2024-03-05 09:14:27": a date and a time to Excel, no T, no Z, no fraction.
  const std::string row = excel.out.substr(excel.out.find("\r\n") + 2);
  ASSERT_GT(row.size(), 30u) << excel.out;
  const std::string time = row.substr(row.find(',') + 1, 19);
  EXPECT_EQ(time[4], '-');
  EXPECT_EQ(time[10], ' ') << time;
  EXPECT_EQ(time[13], ':');
  EXPECT_EQ(row[row.find(',') + 20], '\r') << row;
  CliRun json =
      run("export --excel --format json --from-clixml " + sample("exchange-inventory.xml"));
  EXPECT_EQ(json.exit_code, 2);
  EXPECT_NE(json.err.find("--excel is for CSV"), std::string::npos) << json.err;
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

  EXPECT_EQ(live.err.find("harvesting:"), std::string::npos)
      << "no progress line when not on a terminal";

  CliRun stored = run("export --format csv" + data);
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(std::count(stored.out.begin(), stored.out.end(), '\n'), 16) << "a header and 15 rows";
}

TEST_F(ExportCli, LiveShowsItsProgressOnATerminal) {
  // script(1) gives the export a terminal, as an administrator's shell does.
#ifdef _WIN32
  GTEST_SKIP() << "SKIPPED LOUDLY: no script(1) on Windows; the progress line is the same code "
                  "and is tested on Linux";
#endif
  if (std::system("script --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "SKIPPED LOUDLY: script(1) from util-linux is not installed; the progress "
                    "line needs a terminal to be seen";
  }
  const fs::path typescript = dir_ / "terminal.txt";
  const std::string command = std::string(EASGATE_BINARY) + " export --live --data-dir '" +
                              (dir_ / "data").string() +
                              "' --sim-arg=--mailboxes=40 --sim-arg=--devices=80 --out '" +
                              (dir_ / "out.csv").string() + "'";
  const std::string line =
      "script -qec \"" + command + "\" '" + typescript.string() + "' > /dev/null 2>&1 < /dev/null";
  ASSERT_EQ(std::system(line.c_str()), 0) << slurp(typescript);
  const std::string seen = slurp(typescript);
  EXPECT_NE(seen.find("easgate: harvesting: "), std::string::npos) << seen;
  EXPECT_NE(seen.find("40 of 40 mailboxes"), std::string::npos) << seen;
  EXPECT_NE(seen.find("harvested 80 devices"), std::string::npos) << seen;
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
