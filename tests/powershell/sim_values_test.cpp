// The simulator's compact values: what an organisation of 100,000 mailboxes is made of, so that
// it fits in memory (powershell/sim/guid.h, shared_text.h, MailboxFacts' addresses).
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "powershell/sim/exchange_objects.h"
#include "powershell/sim/guid.h"
#include "powershell/sim/shared_text.h"

namespace easgate::powershell::sim {
namespace {

TEST(SimGuid, ReadsAnyCaseAndWritesLowerCase) {
  auto g = Guid::parse("3F2504E0-4F89-11D3-9A0C-0305E82C3301");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->text(), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_EQ(*g, Guid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
  EXPECT_FALSE(g->isNil());
  EXPECT_NE(*g, Guid("3f2504e0-4f89-11d3-9a0c-0305e82c3302")) << "the last digit counts";
}

TEST(SimGuid, RefusesWhatIsNotAGuid) {
  for (const char* text :
       {"", "3f2504e0-4f89-11d3-9a0c-0305e82c330", "3f2504e0+4f89-11d3-9a0c-0305e82c3301",
        "0f1e2d3c-4b5a-4978-a6b5-0000000APPL1"}) {
    EXPECT_FALSE(Guid::parse(text)) << text;
  }
  EXPECT_THROW(Guid("not a guid"), std::invalid_argument);
}

TEST(SimGuid, TheDefaultIsNil) {
  EXPECT_TRUE(Guid().isNil());
  EXPECT_EQ(Guid().text(), "00000000-0000-0000-0000-000000000000");
}

TEST(SimSharedText, EqualValuesAreOneValueAndKeepTheirText) {
  const SharedText a = std::string("iPhone");
  const SharedText b = "iPhone";
  const SharedText c = "iPad";
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  EXPECT_EQ(a.str(), "iPhone");
  EXPECT_EQ(&a.str(), &b.str()) << "kept once";
  EXPECT_TRUE(SharedText().empty());
}

// Values are kept in chunks of 4,096: many more than one, made from several threads at once, all
// keep their text and their identity (TSan runs this too).
TEST(SimSharedText, ManyValuesFromSeveralThreadsKeepTheirText) {
  constexpr int kThreads = 4;
  constexpr int kEach = 5'000;
  std::vector<std::vector<SharedText>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Half the values every thread makes, half its own.
        made[t].emplace_back("value " + std::to_string(i % 2 ? i : i * kThreads + t + 1'000'000));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      const std::string expected =
          "value " + std::to_string(i % 2 ? i : i * kThreads + t + 1'000'000);
      ASSERT_EQ(made[t][i].str(), expected);
      ASSERT_EQ(made[t][i], SharedText(expected));
    }
  }
  EXPECT_EQ(made[0][1], made[3][1]) << "a value made by two threads is one value";
}

TEST(SimMailboxFacts, EachAddressIsItsOwn) {
  MailboxFacts m;
  EXPECT_EQ(m.alias(), "");
  EXPECT_TRUE(m.proxyAddresses().empty());
  m.setPrimarySmtpAddress("tony.smith@contoso.com");
  m.setProxyAddresses({"tony@contoso.onmicrosoft.com", "tsmith@contoso.com"});
  m.setAlias("tony.smith");
  m.setUserPrincipalName("tsmith@corp.contoso.com");
  EXPECT_EQ(m.alias(), "tony.smith");
  EXPECT_EQ(m.userPrincipalName(), "tsmith@corp.contoso.com");
  EXPECT_EQ(m.primarySmtpAddress(), "tony.smith@contoso.com");
  EXPECT_EQ(m.proxyAddresses(),
            (std::vector<std::string>{"tony@contoso.onmicrosoft.com", "tsmith@contoso.com"}));

  // Changing one leaves the others.
  m.setPrimarySmtpAddress("t.smith@contoso.com");
  m.setProxyAddresses({"only@contoso.com"});
  m.setAlias("");
  EXPECT_EQ(m.alias(), "");
  EXPECT_EQ(m.userPrincipalName(), "tsmith@corp.contoso.com");
  EXPECT_EQ(m.primarySmtpAddress(), "t.smith@contoso.com");
  EXPECT_EQ(m.proxyAddresses(), std::vector<std::string>{"only@contoso.com"});
  m.setProxyAddresses({});
  EXPECT_TRUE(m.proxyAddresses().empty());
  EXPECT_EQ(m.primarySmtpAddress(), "t.smith@contoso.com");
}

TEST(SimMailboxFacts, AnAddressWithANulIsRefused) {
  MailboxFacts m;
  m.setAlias("tony");
  EXPECT_THROW(m.setAlias(std::string("to\0ny", 5)), std::invalid_argument);
  EXPECT_THROW(m.setProxyAddresses({std::string("a\0b", 3)}), std::invalid_argument);
  EXPECT_EQ(m.alias(), "tony") << "unchanged";
  EXPECT_TRUE(m.proxyAddresses().empty());
}

}  // namespace
}  // namespace easgate::powershell::sim
