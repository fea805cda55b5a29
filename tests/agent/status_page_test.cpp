#include "agent/api/status_page.h"

#include <gtest/gtest.h>

namespace easgate::agent::api {
namespace {

TEST(StatusPage, EscapesWhatDevicesSayOfThemselves) {
  // A device's model and ID come from the device: never markup on the page.
  StatusPage page;
  page.version = "0.1.0";
  page.exchange = "simulator";
  DeviceRecord d;
  d.mailbox_address = "ann@contoso.com";
  d.device_model = "<script>alert('x')</script>";
  d.device_id = "A&B\"C";
  d.access_state = "Quarantined";
  page.overview.quarantined.push_back(d);
  page.overview.by_access_state = {{"Quarantined", 1}};
  page.devices = 1;
  const std::string html = renderStatusPage(page);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("A&amp;B&quot;C"), std::string::npos);
  EXPECT_NE(html.find("<b>1</b>quarantined"), std::string::npos) << "the tile counts it";
}

TEST(StatusPage, SaysSoWhenNothingWaitsAndNoHarvestRanYet) {
  StatusPage page;
  const std::string html = renderStatusPage(page);
  EXPECT_NE(html.find("No device is waiting in quarantine."), std::string::npos);
  EXPECT_NE(html.find("not yet"), std::string::npos);
}

}  // namespace
}  // namespace easgate::agent::api
