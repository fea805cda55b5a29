// A policy plan made as it streams over the partnerships: what it keeps is its window (a page, or
// the allows an apply queues), what it counts and hashes is the whole plan. Decided without a
// store, so each property is checked over organisations of any size.
#include "agent/policy/policy_plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/inventory/object_text.h"

namespace easgate::agent::policy {
namespace {

using Grandfather = protocol::PolicyPlanRequest::Grandfather;

// `mailboxes` mailboxes of three partnerships each, in key order: an iPhone and an Android
// allowed by the default, and a device allowed by its mailbox's allowed list.
std::vector<DeviceRecord> organisation(int mailboxes) {
  std::vector<DeviceRecord> out;
  for (int m = 0; m < mailboxes; ++m) {
    char mailbox[32];
    std::snprintf(mailbox, sizeof mailbox, "contoso.com/Users/U%05d", m);
    for (const char* type : {"Android", "iPhone", "WindowsMail"}) {
      DeviceRecord r;
      r.mailbox_identity = mailbox;
      r.device_type = type;
      r.device_id = std::string(type).substr(0, 3) + std::to_string(m);
      r.identity =
          std::string(mailbox) + "/ExchangeActiveSyncDevices/" + type + "\xc2\xa7" + r.device_id;
      r.access_state = "Allowed";
      r.access_state_reason = std::string(type) == "WindowsMail" ? "Individual" : "Global";
      out.push_back(std::move(r));
    }
  }
  return out;
}

OrganisationPolicy allowByDefault() {
  OrganisationPolicy p;
  p.access.default_level = powershell::exchange::AccessLevel::kAllow;
  return p;
}

// Quarantine by default, Android blocked by a new rule, the named partnerships kept in.
protocol::PolicyPlanRequest quarantineKeeping(std::vector<std::string> partnerships) {
  protocol::PolicyPlanRequest t;
  t.default_access_level = "Quarantine";
  t.grandfather = Grandfather::kListed;
  t.partnerships = std::move(partnerships);
  t.rules.push_back({"Android", "DeviceType", "Block"});
  return t;
}

// Each mailbox's allowed list holds its WindowsMail device; `blocked` is every blocked list.
Result<Plan, PlanError> planOf(const std::vector<DeviceRecord>& devices,
                               const protocol::PolicyPlanRequest& target, PlanWindow window,
                               const std::vector<std::string>& blocked = {}) {
  auto planner = Planner::start(allowByDefault(), target, std::move(window));
  if (!planner) return planner.error();
  std::vector<std::string> allowed;
  for (const auto& d : devices) {
    const int mailbox = std::stoi(d.mailbox_identity.substr(d.mailbox_identity.size() - 5));
    allowed = {"Win" + std::to_string(mailbox)};
    planner->add({planRecordOf(d), d.mailbox_identity, &allowed, &blocked});
  }
  return std::move(planner.value()).finish();
}

std::vector<std::string> identities(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& c : plan.changes) out.emplace_back(c.device.identity);
  return out;
}

constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

TEST(PolicyPlan, ItsPagesTogetherAreTheWholePlanAndEachHasItsDigest) {
  const auto devices = organisation(10);
  const auto target = quarantineKeeping({devices[1].identity, devices[12].identity});
  auto whole = planOf(devices, target, {{}, kAll, false});
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  // Each mailbox's Android is blocked by the rule and its iPhone quarantined, but for the two
  // listed (an iPhone, an Android), kept in; the WindowsMail devices, on their lists, stay.
  ASSERT_EQ(whole->changes_total, 20);
  ASSERT_EQ(whole->changes.size(), 20u);
  EXPECT_EQ(whole->allows, 2);
  EXPECT_TRUE(whole->next_after.empty());
  EXPECT_EQ(whole->partnerships, 30);

  std::vector<std::string> paged;
  std::string after;
  int pages = 0;
  do {
    auto page = planOf(devices, target, {after, 3, false});
    ASSERT_TRUE(page.ok());
    ASSERT_LE(page->changes.size(), 3u);
    EXPECT_EQ(page->digest, whole->digest) << "page " << pages;
    EXPECT_EQ(page->changes_total, whole->changes_total);
    EXPECT_EQ(page->allows, whole->allows);
    EXPECT_EQ(page->by_new_state, whole->by_new_state);
    for (const auto& c : page->changes) paged.emplace_back(c.device.identity);
    after = page->next_after;
    ASSERT_LT(++pages, 10) << "the pages do not end";
  } while (!after.empty());
  EXPECT_EQ(pages, 7) << "20 changes, 3 a page";
  EXPECT_EQ(paged, identities(whole.value()));
}

TEST(PolicyPlan, TheApplysPlanKeepsEveryAllowAndNothingElse) {
  const auto devices = organisation(10);
  const auto target = quarantineKeeping({devices[1].identity, devices[12].identity});
  auto whole = planOf(devices, target, {{}, kAll, false});
  auto apply = planOf(devices, target, PlanWindow::everyAllow());
  ASSERT_TRUE(whole.ok() && apply.ok());
  EXPECT_EQ(apply->digest, whole->digest);
  EXPECT_EQ(identities(apply.value()),
            (std::vector<std::string>{devices[1].identity, devices[12].identity}));
  for (const auto& c : apply->changes) {
    EXPECT_TRUE(c.grandfathered);
    EXPECT_EQ(c.mailbox, c.device.mailbox_identity) << "the allow names its mailbox";
    EXPECT_EQ(c.to_state, "Allowed");
  }
}

TEST(PolicyPlan, HoldsItsWindowOnlyHoweverLargeTheOrganisation) {
  const auto devices = organisation(20'000);
  protocol::PolicyPlanRequest target;
  target.default_access_level = "Quarantine";
  target.grandfather = Grandfather::kAllowed;  // every device allowed by the default
  auto page = planOf(devices, target, {{}, 10, false});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->changes_total, 40'000);
  EXPECT_EQ(page->allows, 40'000);
  EXPECT_EQ(page->changes.size(), 10u);
  EXPECT_EQ(page->changes[9].device.identity, devices[13].identity)
      << "the tenth change is the fifth mailbox's iPhone";
  EXPECT_EQ(page->next_after, partnershipKey(devices[13].identity))
      << "the next page starts after it";
}

TEST(PolicyPlan, ItsDigestChangesWithWhatApplyingWouldDo) {
  const auto devices = organisation(4);
  const auto target = quarantineKeeping({devices[1].identity});
  auto plan = planOf(devices, target, {{}, 2, false});
  ASSERT_TRUE(plan.ok());

  auto other_state = devices;
  other_state[4].access_state = "Quarantined";  // an iPhone outside the window
  auto changed = planOf(other_state, target, {{}, 2, false});
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->digest, plan->digest) << "a change after the page is in the digest";

  auto other_keep = quarantineKeeping({devices[4].identity});
  auto kept = planOf(devices, other_keep, {{}, 2, false});
  ASSERT_TRUE(kept.ok());
  EXPECT_NE(kept->digest, plan->digest) << "which device is allowed is in the digest";

  auto no_rule = target;
  no_rule.rules.clear();
  auto unruled = planOf(devices, no_rule, {{}, 2, false});
  ASSERT_TRUE(unruled.ok());
  EXPECT_NE(unruled->digest, plan->digest);
}

TEST(PolicyPlan, AListedDeviceOnABlockedListRefusesThePlanWhateverItsWindow) {
  const auto devices = organisation(6);
  const auto target = quarantineKeeping({devices[16].identity});
  const std::vector<std::string> blocked{devices[16].device_id};
  for (PlanWindow window : {PlanWindow{{}, 2, false}, PlanWindow::everyAllow()}) {
    auto plan = planOf(devices, target, window, blocked);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().field, "grandfather");
  }
  auto missing = quarantineKeeping({"contoso.com/Users/Nobody/ExchangeActiveSyncDevices/X"});
  auto plan = planOf(devices, missing, {{}, 2, false});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().field, "grandfather[0]");
}

}  // namespace
}  // namespace easgate::agent::policy
