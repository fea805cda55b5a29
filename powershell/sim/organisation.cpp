#include "powershell/sim/organisation.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "common/text/case_fold.h"
#include "common/text/hex.h"
#include "common/time/utc_time.h"

namespace easgate::powershell::sim {
namespace {

constexpr std::int64_t kTicksPerSecond = 10'000'000;

std::string lower(std::string_view s) { return text::foldCase(s); }

}  // namespace

Guid stableGuid(std::string_view seed, char variant) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (char c : seed) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  std::mt19937_64 rng(h ^ static_cast<std::uint64_t>(variant));
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    out.push_back(i == 12 ? '4' : text::hexDigit(static_cast<unsigned>(rng())));
  }
  return Guid(out);
}

namespace {

bool sameId(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

bool listHas(const std::vector<std::string>& list, std::string_view id) {
  return exchange::listHasDeviceId(list, id);
}

void listRemove(std::vector<std::string>& list, std::string_view id) {
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const std::string& x) { return sameId(x, id); }),
      list.end());
}

void listAdd(std::vector<std::string>& list, const std::string& id) {
  if (!listHas(list, id)) list.push_back(id);
}

struct Catalogue {
  const char* type;
  const char* model;
  const char* os;
  const char* agent;
  const char* client;
  const char* id_prefix;
};

constexpr Catalogue kCatalogue[] = {
    {"iPhone", "iPhone15C2", "iOS 17.4.1 21E236", "Apple-iPhone15C2/2104.236", "EAS", ""},
    {"iPhone", "iPhone14C5", "iOS 16.7.5 20H307", "Apple-iPhone14C5/2007.307", "EAS", ""},
    {"iPad", "iPad13C1", "iPadOS 17.3 21D50", "Apple-iPad13C1/2103.50", "EAS", ""},
    {"Android", "SM-S918B", "Android 14.0.0", "Android-SAMSUNG-SM-S918B/101.140101", "EAS",
     "ANDROIDC"},
    {"Android", "Pixel 8", "Android 14.0.0", "Android/14-EAS-2.0", "EAS", "ANDROIDC"},
    {"SAMSUNGSMA546B", "SM-A546B", "Android 13.0.0", "SAMSUNG-SM-A546B/101.130001", "EAS", "SEC"},
    {"Outlook", "Outlook for iOS and Android", "iOS 17.5", "Outlook-iOS/2.0", "Outlook", ""},
    {"Outlook", "Outlook for iOS and Android", "Android 14", "Outlook-Android/2.0", "Outlook", ""},
};

constexpr const char* kFirstNames[] = {"Tony", "Lila", "Ann", "Omar", "Mei",  "Lars",
                                       "Ines", "Raj",  "Zoe", "Kofi", "Anya", "Paulo",
                                       "Sara", "Yuki", "Ben", "Nora"};
constexpr const char* kLastNames[] = {"Smith",   "Okafor", "Lee",   "Haddad", "Chen",
                                      "Berg",    "Costa",  "Patel", "Novak",  "Mensah",
                                      "Ivanova", "Silva",  "Cohen", "Sato"};

std::string hex(std::mt19937_64& rng, int digits) {
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(text::hexDigit(static_cast<unsigned>(rng())));
  return out;
}

Guid guid(std::mt19937_64& rng) {
  return Guid(hex(rng, 8) + "-" + hex(rng, 4) + "-4" + hex(rng, 3) + "-a" + hex(rng, 3) + "-" +
              hex(rng, 12));
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

}  // namespace

std::int64_t dotNetTicksFromUnixSeconds(std::int64_t seconds) {
  return utc::kUnixEpochDotNetTicks + seconds * kTicksPerSecond;
}

std::int64_t nowDotNetTicks() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return utc::kUnixEpochDotNetTicks +
         std::chrono::duration_cast<std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>>(
             since_epoch)
             .count();
}

Organisation Organisation::generate(const GenerateOptions& options) {
  Organisation org;
  std::mt19937_64 rng(options.seed);
  const std::int64_t now = options.now_ticks ? options.now_ticks : nowDotNetTicks();
  const std::int64_t two_years = 2 * 365 * 86400 * kTicksPerSecond;
  org.mailboxes_.reserve(options.mailboxes);
  for (std::size_t i = 0; i < options.mailboxes; ++i) {
    MailboxFacts m;
    std::string first = kFirstNames[rng() % std::size(kFirstNames)];
    std::string last = kLastNames[rng() % std::size(kLastNames)];
    std::string number = std::to_string(i + 1);
    m.name = first + " " + last + " " + number;
    m.identity = "contoso.com/Users/" + m.name;
    m.sam_account_name = lower(first.substr(0, 1) + last) + number;
    const std::string alias = lower(first + "." + last) + "." + number;
    m.setAlias(alias);
    m.setUserPrincipalName(m.sam_account_name + "@corp.contoso.com");
    m.setPrimarySmtpAddress(alias + "@contoso.com");
    m.setProxyAddresses({alias + "@contoso.onmicrosoft.com", m.sam_account_name + "@contoso.com"});
    m.guid = guid(rng);
    m.exchange_guid = guid(rng);
    org.mailboxes_.push_back(SimMailbox{std::move(m), {}});
  }
  for (std::size_t d = 0; d < options.devices && !org.mailboxes_.empty(); ++d) {
    // The first pass gives every mailbox a device, the rest land at random.
    std::size_t mailbox = d < org.mailboxes_.size() ? d : rng() % org.mailboxes_.size();
    SimMailbox& mb = org.mailboxes_[mailbox];
    const Catalogue& c = kCatalogue[rng() % std::size(kCatalogue)];
    PartnershipFacts f;
    f.mailbox_identity = mb.facts.identity;
    f.mailbox_name = mb.facts.name;
    f.device_type = c.type;
    f.device_model = c.model;
    f.device_os = c.os;
    f.device_user_agent = c.agent;
    f.client_type = c.client;
    f.device_id = c.id_prefix + upper(hex(rng, c.client == std::string("Outlook") ? 32 : 16));
    f.friendly_name =
        mb.facts.name.str().substr(0, mb.facts.name.str().find(' ')) + "'s " + c.model;
    f.device_imei = c.client == std::string("Outlook")
                        ? ""
                        : std::to_string(350000000000000ULL + rng() % 99999999999999ULL);
    f.mobile_operator = c.client == std::string("Outlook") ? "" : "Contoso Mobile";
    f.guid = guid(rng);
    f.first_sync_ticks =
        now - static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(two_years));
    f.last_success_sync_ticks =
        now - static_cast<std::int64_t>(rng() % (7 * 86400)) * kTicksPerSecond;
    f.when_changed_ticks = f.first_sync_ticks;
    mb.devices.push_back(std::move(f));
    mb.facts.has_partnership = true;
  }
  for (auto& mb : org.mailboxes_) {
    for (auto& dev : mb.devices) org.setAccess(dev, org.evaluate(mb, dev), dev.when_changed_ticks);
  }
  org.reindex();
  return org;
}

std::size_t Organisation::deviceCount() const {
  std::size_t n = 0;
  for (const auto& m : mailboxes_) n += m.devices.size();
  return n;
}

namespace {

// Every name Exchange finds a mailbox by.
std::vector<std::string> namesOf(const MailboxFacts& f) {
  std::vector<std::string> names = {f.identity,
                                    f.name,
                                    f.sam_account_name,
                                    f.alias().empty() ? f.sam_account_name : f.alias(),
                                    f.userPrincipalName(),
                                    f.primarySmtpAddress(),
                                    f.guid.text(),
                                    f.exchange_guid.text(),
                                    distinguishedName(f)};
  for (auto& address : f.proxyAddresses()) names.push_back(std::move(address));
  return names;
}

std::uint64_t nameHash(std::string_view folded) { return std::hash<std::string_view>{}(folded); }

}  // namespace

void Organisation::reindex() {
  mailbox_index_.clear();
  mailbox_index_.reserve(mailboxes_.size() * 11);
  for (std::size_t i = 0; i < mailboxes_.size(); ++i) {
    for (const auto& name : namesOf(mailboxes_[i].facts)) {
      if (!name.empty()) mailbox_index_.push_back(IndexEntry::of(nameHash(lower(name)), i));
    }
  }
  std::sort(mailbox_index_.begin(), mailbox_index_.end());
  mailbox_index_.erase(std::unique(mailbox_index_.begin(), mailbox_index_.end()),
                       mailbox_index_.end());
  mailbox_index_.shrink_to_fit();
}

SimMailbox& Organisation::addMailbox(MailboxFacts facts) {
  if (facts.guid.isNil()) facts.guid = stableGuid(facts.identity, 'g');
  if (facts.exchange_guid.isNil()) facts.exchange_guid = stableGuid(facts.identity, 'x');
  mailboxes_.push_back(SimMailbox{std::move(facts), {}});
  reindex();
  return mailboxes_.back();
}

PartnershipFacts& Organisation::addDevice(SimMailbox& mailbox, PartnershipFacts device) {
  device.mailbox_identity = mailbox.facts.identity;
  device.mailbox_name = mailbox.facts.name;
  mailbox.facts.has_partnership = true;
  mailbox.devices.push_back(std::move(device));
  return mailbox.devices.back();
}

SimMailbox* Organisation::findMailbox(std::string_view id, bool* ambiguous) {
  const std::string wanted = lower(id);
  const IndexEntry first = IndexEntry::of(nameHash(wanted), 0);
  SimMailbox* found = nullptr;
  bool shared = false;
  for (auto it = std::lower_bound(mailbox_index_.begin(), mailbox_index_.end(), first);
       it != mailbox_index_.end() && it->sameHash(first); ++it) {
    SimMailbox& candidate = mailboxes_[it->mailbox];
    const auto names = namesOf(candidate.facts);
    if (std::none_of(names.begin(), names.end(),
                     [&](const std::string& name) { return lower(name) == wanted; })) {
      continue;  // another name with the same hash
    }
    if (found && found != &candidate) shared = true;
    found = &candidate;
  }
  if (ambiguous) *ambiguous = shared;
  return shared ? nullptr : found;
}

std::vector<Organisation::DeviceRef> Organisation::allDevices() {
  std::vector<DeviceRef> out;
  out.reserve(deviceCount());
  for (auto& m : mailboxes_) {
    for (auto& d : m.devices) out.push_back({&m, &d});
  }
  return out;
}

std::optional<Organisation::DeviceRef> Organisation::findDevice(std::string_view id) {
  std::string wanted = lower(id);
  std::replace(wanted.begin(), wanted.end(), '\\', '/');
  static constexpr std::string_view kContainer = "/exchangeactivesyncdevices/";
  auto at = wanted.find(kContainer);
  if (at != std::string::npos) {
    // The mailbox part as the index keeps it: "contoso.com/Users/Tony Smith" or "Lila".
    SimMailbox* mailbox = findMailbox(std::string_view(wanted).substr(0, at));
    std::string name = wanted.substr(at + kContainer.size());
    if (mailbox) {
      for (auto& d : mailbox->devices) {
        if (lower(d.device_type + "\xC2\xA7" + d.device_id) == name) return DeviceRef{mailbox, &d};
      }
    }
    return std::nullopt;
  }
  const auto guid = Guid::parse(wanted);
  if (!guid) return std::nullopt;
  for (auto& m : mailboxes_) {  // by Guid: rare enough to scan
    for (auto& d : m.devices) {
      if (d.guid == *guid) return DeviceRef{&m, &d};
    }
  }
  return std::nullopt;
}

std::pair<std::string, std::string> Organisation::evaluate(const SimMailbox& mailbox,
                                                           const PartnershipFacts& device) const {
  const exchange::AccessDecision d = exchange::decideAccess(
      policy,
      {device.device_id, device.device_user_agent, device.device_os, device.device_model,
       device.device_type, &mailbox.facts.allowed_device_ids, &mailbox.facts.blocked_device_ids});
  return {std::string(d.state), std::string(d.reason)};
}

void Organisation::reevaluateAll(std::int64_t now) {
  for (auto& mailbox : mailboxes_) {
    for (auto& d : mailbox.devices) setAccess(d, evaluate(mailbox, d), now);
  }
}

void Organisation::setAccess(PartnershipFacts& device, std::pair<std::string, std::string> access,
                             std::int64_t now) {
  if (device.access_state == access.first && device.access_state_reason == access.second) return;
  device.access_state = std::move(access.first);
  device.access_state_reason = std::move(access.second);
  device.when_changed_ticks = now;
}

Result<void, SimError> Organisation::changeLists(SimMailbox& mailbox,
                                                 const std::optional<ListChange>& allowed,
                                                 const std::optional<ListChange>& blocked,
                                                 std::int64_t now) {
  auto touched = [](const std::optional<ListChange>& change) {
    std::vector<std::string> ids;
    if (!change) return ids;
    if (change->replace) ids = *change->replace;
    ids.insert(ids.end(), change->add.begin(), change->add.end());
    return ids;
  };
  for (const auto& id : touched(allowed)) {
    if (listHas(touched(blocked), id)) {
      return SimError{SimErrc::kInvalidArgument,
                      "The device ID '" + id +
                          "' can't be in both the ActiveSyncAllowedDeviceIDs and the "
                          "ActiveSyncBlockedDeviceIDs lists. (ErrorDeviceIdInBothLists)"};
    }
  }
  auto apply = [](std::vector<std::string>& list, std::vector<std::string>& other,
                  const ListChange& c) {
    if (c.replace) list = *c.replace;
    for (const auto& id : c.remove) listRemove(list, id);
    for (const auto& id : c.add) listAdd(list, id);
    // An ID added to one list leaves the other.
    for (const auto& id : list) listRemove(other, id);
  };
  if (allowed) apply(mailbox.facts.allowed_device_ids, mailbox.facts.blocked_device_ids, *allowed);
  if (blocked) apply(mailbox.facts.blocked_device_ids, mailbox.facts.allowed_device_ids, *blocked);
  // Exchange re-evaluates at once only what the lists decide; a device that had its state
  // from a list it has left is Unknown until it next syncs.
  for (auto& device : mailbox.devices) {
    if (listHas(mailbox.facts.blocked_device_ids, device.device_id)) {
      setAccess(device, {"Blocked", "Individual"}, now);
    } else if (listHas(mailbox.facts.allowed_device_ids, device.device_id)) {
      setAccess(device, {"Allowed", "Individual"}, now);
    } else if (device.access_state_reason == "Individual") {
      setAccess(device, {"Unknown", "Unknown"}, now);
    }
  }
  return {};
}

std::optional<std::string> Organisation::wipe(DeviceRef ref, bool account_only, bool cancel,
                                              std::int64_t now) {
  PartnershipFacts& d = *ref.device;
  if (cancel) {
    if (d.wipe_request_ticks == 0)
      return "No wipe request is pending for device " + d.device_id + ".";
    if (d.wipe_sent_ticks != 0) {
      return "The wipe request for device " + d.device_id +
             " can't be canceled because it has already been sent to the device. "
             "(CannotCancelWipe)";
    }
    d.wipe_request_ticks = 0;
    d.wipe_status = "DeviceOk";
    d.when_changed_ticks = now;
    return std::nullopt;
  }
  // Issuing again restarts the cycle.
  ++d.wipe_requests;
  d.wipe_request_ticks = now;
  d.wipe_sent_ticks = 0;
  d.wipe_ack_ticks = 0;
  d.wipe_account_only = account_only;
  d.wipe_status = account_only ? "AccountOnlyDeviceWipePending" : "DeviceWipePending";
  d.when_changed_ticks = now;
  return std::nullopt;
}

void Organisation::removeDevice(DeviceRef ref) {
  auto& devices = ref.mailbox->devices;
  devices.erase(devices.begin() + (ref.device - devices.data()));
  ref.mailbox->facts.has_partnership = !devices.empty();
}

void Organisation::removeMailbox(const SimMailbox& mailbox) {
  mailboxes_.erase(mailboxes_.begin() + (&mailbox - mailboxes_.data()));
  reindex();
}

void Organisation::syncAll(std::int64_t now) {
  for (auto& mailbox : mailboxes_) {
    for (auto& d : mailbox.devices) {
      setAccess(d, evaluate(mailbox, d), now);
      if (d.wipe_request_ticks != 0 && d.wipe_sent_ticks == 0) {
        d.wipe_sent_ticks = now;
        d.when_changed_ticks = now;
      } else if (d.wipe_sent_ticks != 0 && d.wipe_ack_ticks == 0) {
        d.wipe_ack_ticks = now;
        d.wipe_status =
            d.wipe_account_only ? "AccountOnlyDeviceWipeSucceeded" : "DeviceWipeSucceeded";
        d.when_changed_ticks = now;
      }
      if (d.access_state != "Blocked") d.last_success_sync_ticks = now;
    }
  }
}

}  // namespace easgate::powershell::sim
