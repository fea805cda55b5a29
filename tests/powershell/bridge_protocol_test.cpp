// The bridge protocol: frames on the bridge's stdout, request lines on its stdin, the
// allowlist, and classified errors. bridge.ps1 and the simulator must agree with all of it.
#include <gtest/gtest.h>

#include "powershell/bridge/bridge_error.h"
#include "powershell/bridge/frames.h"
#include "powershell/bridge/request.h"

namespace easgate::powershell {
namespace {

std::vector<Frame> decodeAll(FrameDecoder& decoder) {
  std::vector<Frame> out;
  while (true) {
    auto next = decoder.next();
    EXPECT_TRUE(next.ok()) << next.error().message;
    if (!next.ok() || !next.value()) return out;
    out.push_back(std::move(*next.value()));
  }
}

TEST(Frames, RoundTripWhateverTheChunkSizes) {
  std::string stream = encodeFrame({FrameKind::kReady, 0, R"({"mode":"module"})"}) +
                       encodeFrame({FrameKind::kBatch, 7, "<Objs>\n\n</Objs>"}) +
                       encodeFrame({FrameKind::kWarning, 7, "caf\xC3\xA9"}) +
                       encodeFrame({FrameKind::kDone, 7, R"({"count":0})"});
  EXPECT_EQ(stream.substr(0, 11), "ready 0 17\n");
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    FrameDecoder decoder;
    std::vector<Frame> frames;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      decoder.feed(std::string_view(stream).substr(at, chunk));
      auto some = decodeAll(decoder);
      frames.insert(frames.end(), some.begin(), some.end());
    }
    ASSERT_EQ(frames.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(frames[1].kind, FrameKind::kBatch);
    EXPECT_EQ(frames[1].id, 7u);
    EXPECT_EQ(frames[1].payload, "<Objs>\n\n</Objs>") << "newlines inside a payload are data";
    EXPECT_EQ(frames[2].payload, "caf\xC3\xA9") << "lengths count bytes, not characters";
  }
}

TEST(Frames, StrayOutputIsAnErrorNotAFrame) {
  for (const char* bad : {"WARNING: something printed\n", "batch x 3\nabc", "batch 1 -1\n",
                          "nonsense 1 0\n", "batch 1 3 4\nabc"}) {
    FrameDecoder decoder;
    decoder.feed(bad);
    auto next = decoder.next();
    EXPECT_FALSE(next.ok()) << bad;
  }
  FrameDecoder huge;
  huge.feed("batch 1 99999999999\n");
  auto next = huge.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code, FrameErrc::kTooLarge);
}

TEST(Requests, EncodeAndDecodeEveryParameterKind) {
  BridgeRequest request{"Set-CASMailbox", {}};
  request.with("Identity", "tony.smith@contoso.com")
      .with("ActiveSyncAllowedDeviceIDs", ListEdit{{"A\"1"}, {"B\\2"}})
      .with("ActiveSyncBlockedDeviceIDs", nullptr);
  ASSERT_TRUE(validateRequest(request).ok());
  std::string line = encodeRequestLine(42, request);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one request, one line";
  auto decoded = decodeRequestLine(line);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->id, 42u);
  EXPECT_EQ(decoded->request.cmdlet, "Set-CASMailbox");
  ASSERT_EQ(decoded->request.parameters.size(), 3u);
  EXPECT_EQ(decoded->request.parameters, request.parameters);

  BridgeRequest other{"Clear-MobileDevice", {}};
  other
      .with("Identity",
            "x/ExchangeActiveSyncDevices/iPhone\xC2\xA7"
            "ABC")
      .with("AccountOnly", true)
      .with("NotificationEmailAddresses", std::vector<std::string>{"sec@contoso.com"});
  auto round = decodeRequestLine(encodeRequestLine(1, other));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->request.parameters, other.parameters);

  BridgeRequest sized{"Get-MobileDevice", {}};
  sized.with("ResultSize", std::int64_t{5});
  auto sized_round = decodeRequestLine(encodeRequestLine(2, sized));
  ASSERT_TRUE(sized_round.ok());
  EXPECT_EQ(sized_round->request.parameters, sized.parameters);
}

TEST(Requests, TheAllowlistIsTheOnlyWayIn) {
  EXPECT_EQ(allowedCmdlets(),
            (std::vector<std::string>{
                "Get-MobileDevice", "Get-MobileDeviceStatistics", "Get-CASMailbox",
                "Set-CASMailbox", "Clear-MobileDevice", "Remove-MobileDevice",
                "Get-ActiveSyncOrganizationSettings", "Set-ActiveSyncOrganizationSettings",
                "Get-ActiveSyncDeviceAccessRule", "New-ActiveSyncDeviceAccessRule",
                "Set-ActiveSyncDeviceAccessRule", "Remove-ActiveSyncDeviceAccessRule"}));
  struct Case {
    BridgeRequest request;
    RequestErrc code;
    const char* says;
  };
  std::vector<Case> cases = {
      {BridgeRequest{"Invoke-Expression", {}}.with("Command", "calc"), RequestErrc::kNotAllowed,
       "not an allowlisted cmdlet"},
      {BridgeRequest{"get-mobiledevice", {}}, RequestErrc::kNotAllowed, "not an allowlisted"},
      {BridgeRequest{"Get-MobileDevice", {}}.with("ScriptBlock", "{}"), RequestErrc::kNotAllowed,
       "does not take -ScriptBlock"},
      {BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", ""), RequestErrc::kInvalidParameter,
       "non-empty"},
      {BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", "a\nb"),
       RequestErrc::kInvalidParameter, "control characters"},
      {BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", std::int64_t{0}),
       RequestErrc::kInvalidParameter, "Unlimited or a count"},
      {BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "lots"),
       RequestErrc::kInvalidParameter, "Unlimited or a count"},
      {BridgeRequest{"Set-CASMailbox", {}}.with("ActiveSyncAllowedDeviceIDs", nullptr),
       RequestErrc::kInvalidParameter, "-Identity: is required"},
      {BridgeRequest{"Set-CASMailbox", {}}.with("Identity", "a").with("Identity", "b"),
       RequestErrc::kInvalidParameter, "given twice"},
      {BridgeRequest{"Set-CASMailbox", {}}
           .with("Identity", "a")
           .with("ActiveSyncBlockedDeviceIDs", ListEdit{}),
       RequestErrc::kInvalidParameter, "adds and removes nothing"},
      {BridgeRequest{"Clear-MobileDevice", {}}.with("Identity", "a").with("Cancel", "yes"),
       RequestErrc::kInvalidParameter, "is a switch"},
  };
  for (const auto& c : cases) {
    auto valid = validateRequest(c.request);
    ASSERT_FALSE(valid.ok()) << c.says;
    EXPECT_EQ(valid.error().code, c.code) << valid.error().message;
    EXPECT_NE(valid.error().message.find(c.says), std::string::npos) << valid.error().message;
  }
}

TEST(Requests, MalformedLinesAreRejected) {
  for (const char* bad : {"", "{", "[]", R"({"id":1})", R"({"id":"1","cmdlet":"Get-CASMailbox"})",
                          R"({"id":1,"cmdlet":"Get-CASMailbox","parameters":[]})",
                          R"({"id":1,"cmdlet":"Set-CASMailbox","parameters":{"X":{"add":[1]}}})",
                          R"({"id":1,"cmdlet":"Set-CASMailbox","parameters":{"X":{"drop":[]}}})"}) {
    auto decoded = decodeRequestLine(bad);
    EXPECT_FALSE(decoded.ok()) << bad;
  }
}

TEST(BridgeErrors, PayloadsRoundTripAndUnknownCategoriesAreOther) {
  BridgeError throttled{BridgeErrc::kThrottled, "Fail to apply \"quote\"", "X.MicroDelay", 30000};
  BridgeError back = decodeErrorPayload(encodeErrorPayload(throttled));
  EXPECT_EQ(back.code, BridgeErrc::kThrottled);
  EXPECT_EQ(back.message, throttled.message);
  EXPECT_EQ(back.exception_type, "X.MicroDelay");
  EXPECT_EQ(back.retry_after_ms, 30000);
  for (BridgeErrc code : {BridgeErrc::kSessionLimit, BridgeErrc::kNotFound,
                          BridgeErrc::kInvalidArgument, BridgeErrc::kOther}) {
    EXPECT_EQ(categoryFromName(categoryName(code)), code);
  }
  EXPECT_EQ(decodeErrorPayload(R"({"category":"gremlins","message":"m"})").code,
            BridgeErrc::kOther);
  BridgeError garbage = decodeErrorPayload("not json");
  EXPECT_EQ(garbage.code, BridgeErrc::kOther);
  EXPECT_NE(garbage.message.find("not json"), std::string::npos) << "nothing is lost";
  EXPECT_FALSE((BridgeError{BridgeErrc::kNotFound, "", "", 0}.retryable()));
  EXPECT_TRUE((BridgeError{BridgeErrc::kTimeout, "", "", 0}.retryable()));
}

}  // namespace
}  // namespace easgate::powershell
