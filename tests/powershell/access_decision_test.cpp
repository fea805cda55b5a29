// Exchange's ABQ decision (powershell/exchange/access_decision.h), the one implementation the
// simulator plays and the policy planner predicts with, against a table of cases written from
// EXCHANGE.md's order: blocked list, allowed list, rules by UserAgent / DeviceOS / DeviceModel /
// DeviceType, default.
#include "powershell/exchange/access_decision.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace easgate::powershell::exchange {
namespace {

struct Case {
  const char* name;
  AccessLevel default_level;
  std::vector<DeviceAccessRule> rules;
  std::vector<std::string> allowed;
  std::vector<std::string> blocked;
  const char* state;
  const char* reason;
  const char* rule;  // the deciding rule's name, or ""
};

// An iPhone reporting itself as Exchange shows it: ID, user agent, OS, model, type.
DeviceFacts iphone(const std::vector<std::string>& allowed,
                   const std::vector<std::string>& blocked) {
  return {"ApplF17XK2Q1",
          "Apple-iPhone15C2/2104.236",
          "iOS 17.4.1 21E236",
          "iPhone15C2",
          "iPhone",
          &allowed,
          &blocked};
}

const DeviceAccessRule kBlockType{Characteristic::kDeviceType, "iPhone", AccessLevel::kBlock};
const DeviceAccessRule kAllowModel{Characteristic::kDeviceModel, "iPhone15C2", AccessLevel::kAllow};
const DeviceAccessRule kQuarantineOs{Characteristic::kDeviceOS, "iOS 17.4.1 21E236",
                                     AccessLevel::kQuarantine};
const DeviceAccessRule kAllowAgent{Characteristic::kUserAgent, "Apple-iPhone15C2/2104.236",
                                   AccessLevel::kAllow};

const Case kCases[] = {
    {"default allow", AccessLevel::kAllow, {}, {}, {}, "Allowed", "Global", ""},
    {"default quarantine", AccessLevel::kQuarantine, {}, {}, {}, "Quarantined", "Global", ""},
    {"default block", AccessLevel::kBlock, {}, {}, {}, "Blocked", "Global", ""},
    {"allowed list beats the default",
     AccessLevel::kBlock,
     {},
     {"ApplF17XK2Q1"},
     {},
     "Allowed",
     "Individual",
     ""},
    {"device IDs compare without case",
     AccessLevel::kQuarantine,
     {},
     {"applf17xk2q1"},
     {},
     "Allowed",
     "Individual",
     ""},
    {"blocked list beats the allowed list",
     AccessLevel::kAllow,
     {},
     {"ApplF17XK2Q1"},
     {"ApplF17XK2Q1"},
     "Blocked",
     "Individual",
     ""},
    {"blocked list beats an allow rule",
     AccessLevel::kAllow,
     {kAllowAgent},
     {},
     {"ApplF17XK2Q1"},
     "Blocked",
     "Individual",
     ""},
    {"allowed list beats a block rule",
     AccessLevel::kAllow,
     {kBlockType},
     {"ApplF17XK2Q1"},
     {},
     "Allowed",
     "Individual",
     ""},
    {"a rule beats the default",
     AccessLevel::kAllow,
     {kBlockType},
     {},
     {},
     "Blocked",
     "DeviceRule",
     "iPhone (DeviceType)"},
    {"model before type",
     AccessLevel::kQuarantine,
     {kBlockType, kAllowModel},
     {},
     {},
     "Allowed",
     "DeviceRule",
     "iPhone15C2 (DeviceModel)"},
    {"OS before model",
     AccessLevel::kAllow,
     {kAllowModel, kQuarantineOs},
     {},
     {},
     "Quarantined",
     "DeviceRule",
     "iOS 17.4.1 21E236 (DeviceOS)"},
    {"user agent before all",
     AccessLevel::kBlock,
     {kBlockType, kQuarantineOs, kAllowAgent},
     {},
     {},
     "Allowed",
     "DeviceRule",
     "Apple-iPhone15C2/2104.236 (UserAgent)"},
    {"a rule for another device does not apply",
     AccessLevel::kQuarantine,
     {{Characteristic::kDeviceType, "Android", AccessLevel::kAllow}},
     {},
     {},
     "Quarantined",
     "Global",
     ""},
    {"query strings compare exactly",
     AccessLevel::kQuarantine,
     {{Characteristic::kDeviceType, "iphone", AccessLevel::kAllow}},
     {},
     {},
     "Quarantined",
     "Global",
     ""},
    {"another ID on the lists does not count",
     AccessLevel::kQuarantine,
     {},
     {"ApplOTHER"},
     {"ApplTHIRD"},
     "Quarantined",
     "Global",
     ""},
};

TEST(AccessDecision, FollowsExchangesOrder) {
  for (const Case& c : kCases) {
    AccessPolicy policy{c.default_level, c.rules};
    const AccessDecision d = decideAccess(policy, iphone(c.allowed, c.blocked));
    EXPECT_EQ(d.state, c.state) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
    EXPECT_EQ(d.rule ? d.rule->name() : "", c.rule) << c.name;
  }
}

TEST(AccessDecision, ADeviceWithoutListsFallsToRulesAndDefault) {
  DeviceFacts device{"X1", "", "", "", "Android", nullptr, nullptr};
  EXPECT_EQ(decideAccess({AccessLevel::kQuarantine, {}}, device).state, "Quarantined");
}

TEST(AccessDecision, NamesParseInAnyCaseAndOnlyExchangesValues) {
  EXPECT_EQ(accessLevelNamed("quarantine"), AccessLevel::kQuarantine);
  EXPECT_EQ(accessLevelNamed("BLOCK"), AccessLevel::kBlock);
  EXPECT_FALSE(accessLevelNamed("Quarantined"));
  EXPECT_FALSE(accessLevelNamed(""));
  EXPECT_EQ(characteristicNamed("deviceos"), Characteristic::kDeviceOS);
  EXPECT_FALSE(characteristicNamed("DeviceId"));
}

TEST(AccessDecision, ARuleIsFoundByTheNameExchangeGivesIt) {
  const DeviceAccessRule rule{Characteristic::kDeviceOS, "iOS 6.1 10B145", AccessLevel::kBlock};
  EXPECT_EQ(rule.name(), "iOS 6.1 10B145 (DeviceOS)");
  auto back = ruleNamed(rule.name());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->query_string, "iOS 6.1 10B145");
  EXPECT_EQ(back->characteristic, Characteristic::kDeviceOS);
  EXPECT_EQ(ruleNamed("NokiaE521/2.00()MailforExchange (useragent)")->query_string,
            "NokiaE521/2.00()MailforExchange");
  EXPECT_FALSE(ruleNamed("iPhone"));
  EXPECT_FALSE(ruleNamed("iPhone (DeviceId)"));
  EXPECT_FALSE(ruleNamed(" (DeviceType)"));
}

TEST(AccessDecision, QueryStringsThatCannotMakeARuleAreNamed) {
  EXPECT_TRUE(queryStringProblem(""));
  EXPECT_TRUE(queryStringProblem("*"));
  EXPECT_TRUE(queryStringProblem("* ?"));
  EXPECT_TRUE(queryStringProblem("iPhone\n"));
  EXPECT_FALSE(queryStringProblem("iPhone"));
  EXPECT_FALSE(queryStringProblem("NokiaE521/2.00()MailforExchange"));
}

}  // namespace
}  // namespace easgate::powershell::exchange
