#include "powershell/sim/cmdlets.h"

#include <algorithm>
#include <cstdint>

#include "common/text/ascii.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell::sim {
namespace {

constexpr std::size_t kDefaultResultSize = 1000;
constexpr const char* kNotFoundException =
    "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException";
constexpr const char* kArgumentException =
    "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException";

BridgeError notFound(std::string_view id) {
  return BridgeError{BridgeErrc::kNotFound,
                     "The operation couldn't be performed because object '" + std::string(id) +
                         "' couldn't be found on 'DC01.contoso.com'.",
                     kNotFoundException, 0};
}

BridgeError ambiguous(std::string_view id) {
  return BridgeError{BridgeErrc::kAmbiguous,
                     "The operation couldn't be performed because '" + std::string(id) +
                         "' matches multiple entries.",
                     "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
                     0};
}

// A mailbox by any of its names, or Exchange's error for the name.
Result<SimMailbox*, BridgeError> mailboxNamed(Organisation& org, std::string_view id) {
  bool shared = false;
  if (SimMailbox* m = org.findMailbox(id, &shared)) return m;
  if (shared) return ambiguous(id);
  return notFound(id);
}

bool named(Organisation& org, const std::vector<std::string>& names, const SimMailbox& m) {
  for (const auto& n : names) {
    if (org.findMailbox(n) == &m) return true;
  }
  return false;
}

BridgeError invalidArgument(std::string message) {
  return BridgeError{BridgeErrc::kInvalidArgument, std::move(message), kArgumentException, 0};
}

const std::string* textParameter(const BridgeRequest& r, std::string_view name) {
  const ParameterValue* v = r.parameter(name);
  return v ? std::get_if<std::string>(v) : nullptr;
}

// PowerShell binds an enum parameter from its name in any case, and refuses any other text.
BridgeError parameterBinding(std::string_view parameter, std::string_view value,
                             std::string_view values) {
  return BridgeError{BridgeErrc::kInvalidArgument,
                     "Cannot process argument transformation on parameter '" +
                         std::string(parameter) + "'. Cannot convert value \"" +
                         std::string(value) +
                         "\" to type. Error: \"Unable to match the identifier name to a valid "
                         "enumerator name. Specify one of the following enumerator names and try "
                         "again: " +
                         std::string(values) + "\"",
                     "System.Management.Automation.ParameterBindingException", 0};
}

Result<AccessLevel, BridgeError> levelArgument(std::string_view value, std::string_view parameter) {
  if (auto l = exchange::accessLevelNamed(value)) return *l;
  return parameterBinding(parameter, value, "Allow, Block, Quarantine");
}

bool switchParameter(const BridgeRequest& r, std::string_view name) {
  const ParameterValue* v = r.parameter(name);
  return v && std::holds_alternative<bool>(*v) && std::get<bool>(*v);
}

constexpr std::size_t kUnlimited = SIZE_MAX;

// -ResultSize: how many objects at most.
std::size_t resultSize(const BridgeRequest& r) {
  const ParameterValue* v = r.parameter("ResultSize");
  if (!v) return kDefaultResultSize;
  if (const auto* n = std::get_if<std::int64_t>(v)) return static_cast<std::size_t>(*n);
  return kUnlimited;
}

// The small part of OPATH a harvester uses: "<Property> -<op> '<value>'" or "... $true".
struct Filter {
  std::string property;
  std::string op;
  std::string value;
};

std::optional<Filter> parseFilter(const std::string& text) {
  std::string s(scalars::trimXmlSpace(text));
  auto sp1 = s.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : s.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return std::nullopt;
  Filter f{s.substr(0, sp1), s.substr(sp1 + 1, sp2 - sp1 - 1), s.substr(sp2 + 1)};
  static const std::vector<std::string> kOps = {"-eq", "-ne", "-gt", "-ge", "-lt", "-le"};
  if (std::find(kOps.begin(), kOps.end(), f.op) == kOps.end()) return std::nullopt;
  if (f.value.size() >= 2 && (f.value.front() == '\'' || f.value.front() == '"') &&
      f.value.back() == f.value.front()) {
    f.value = f.value.substr(1, f.value.size() - 2);
  }
  return f;
}

template <class T>
bool compare(const T& a, const std::string& op, const T& b) {
  if (op == "-eq") return a == b;
  if (op == "-ne") return a != b;
  if (op == "-gt") return a > b;
  if (op == "-ge") return a >= b;
  if (op == "-lt") return a < b;
  return a <= b;
}

// A device filter, or an error naming what the simulator understands.
Result<std::function<bool(const PartnershipFacts&)>, BridgeError> deviceFilter(
    const BridgeRequest& r) {
  const std::string* text = textParameter(r, "Filter");
  if (!text)
    return std::function<bool(const PartnershipFacts&)>(
        [](const PartnershipFacts&) { return true; });
  auto f = parseFilter(*text);
  if (f && f->property == "WhenChangedUTC") {
    auto when = scalars::parseDateTime(f->value);
    if (!when)
      return invalidArgument("Invalid filter value for WhenChangedUTC: '" + f->value + "'");
    std::int64_t ticks = when->utcTicks();
    std::string op = f->op;
    return std::function<bool(const PartnershipFacts&)>([ticks, op](const PartnershipFacts& d) {
      return compare(d.when_changed_ticks, op, ticks);
    });
  }
  if (f && (f->property == "DeviceAccessState" || f->property == "DeviceType") &&
      (f->op == "-eq" || f->op == "-ne")) {
    std::string property = f->property, op = f->op, value = f->value;
    return std::function<bool(const PartnershipFacts&)>([property, op,
                                                         value](const PartnershipFacts& d) {
      const std::string& actual = property == "DeviceAccessState" ? d.access_state : d.device_type;
      return compare(actual, op, value);
    });
  }
  return invalidArgument(
      "The simulator's -Filter supports \"WhenChangedUTC -gt '<date>'\" (any comparison) "
      "and \"DeviceAccessState|DeviceType -eq|-ne '<value>'\"; got: " +
      *text);
}

// Devices of one mailbox (-Mailbox), one device (-Identity) or all, in a stable order.
Result<std::vector<Organisation::DeviceRef>, BridgeError> selectDevices(Organisation& org,
                                                                        const BridgeRequest& r,
                                                                        bool require_scope) {
  std::vector<Organisation::DeviceRef> out;
  if (const std::string* id = textParameter(r, "Identity")) {
    auto d = org.findDevice(*id);
    if (!d) return notFound(*id);
    out.push_back(*d);
    return out;
  }
  if (const std::string* mailbox = textParameter(r, "Mailbox")) {
    auto m = mailboxNamed(org, *mailbox);
    if (!m) return m.error();
    if (named(org, org.statistics_offline, *m.value()) &&
        r.cmdlet == "Get-MobileDeviceStatistics") {
      return BridgeError{BridgeErrc::kTransient,
                         "MapiExceptionMdbOffline: Unable to open message store. The mailbox "
                         "database of '" +
                             *mailbox + "' is offline or failing over.",
                         "Microsoft.Exchange.Data.Storage.MailboxOfflineException", 0};
    }
    for (auto& d : m.value()->devices) out.push_back({m.value(), &d});
    return out;
  }
  if (require_scope) {
    return invalidArgument(
        "Parameter set cannot be resolved using the specified named parameters: "
        "-Mailbox or -Identity is required.");
  }
  return org.allDevices();
}

std::string moreResultsWarning(std::size_t limit) {
  return "By default, only the first " + std::to_string(limit) +
         " items are returned. Use the ResultSize parameter to specify the number of items "
         "returned. "
         "To return all items, specify \"-ResultSize Unlimited\".";
}

std::optional<Organisation::ListChange> listChange(const BridgeRequest& r, std::string_view name) {
  const ParameterValue* v = r.parameter(name);
  if (!v) return std::nullopt;
  Organisation::ListChange change;
  if (std::holds_alternative<std::nullptr_t>(*v)) change.replace = std::vector<std::string>{};
  if (const auto* list = std::get_if<std::vector<std::string>>(v)) change.replace = *list;
  if (const auto* edit = std::get_if<ListEdit>(v)) {
    change.add = edit->add;
    change.remove = edit->remove;
  }
  return change;
}

}  // namespace

CmdletOutcome runCmdlet(Organisation& org, const BridgeRequest& r, std::int64_t now,
                        const std::function<void(PsValue)>& emit) {
  CmdletOutcome out;
  auto fail = [&](BridgeError e) {
    out.error = std::move(e);
    return out;
  };
  if (auto valid = validateRequest(r); !valid) {
    return fail(BridgeError{BridgeErrc::kInvalidArgument, valid.error().message,
                            "System.Management.Automation.ParameterBindingException", 0});
  }
  auto send = [&](PsValue v) {
    emit(std::move(v));
    ++out.objects;
  };

  if (r.cmdlet == "Get-MobileDevice" || r.cmdlet == "Get-MobileDeviceStatistics") {
    const bool statistics = r.cmdlet == "Get-MobileDeviceStatistics";
    auto devices = selectDevices(org, r, statistics);
    if (!devices) return fail(devices.error());
    auto keep = deviceFilter(r);
    if (!keep) return fail(keep.error());
    std::size_t limit = statistics ? kUnlimited : resultSize(r);
    for (const auto& ref : devices.value()) {
      if (!keep.value()(*ref.device)) continue;
      if (out.objects == limit) {
        if (!r.parameter("ResultSize")) out.warnings.push_back(moreResultsWarning(limit));
        break;
      }
      send(statistics ? mobileDeviceStatistics(*ref.device, org.statistics_type)
                      : mobileDevice(*ref.device));
    }
    if (!statistics && !r.parameter("Identity")) {
      // Deleted while the caller was reading: the next call about them finds nothing.
      for (const auto& name : org.deleted_after_listing) {
        if (SimMailbox* gone = org.findMailbox(name)) org.removeMailbox(*gone);
      }
    }
    return out;
  }
  if (r.cmdlet == "Get-CASMailbox") {
    std::size_t limit = resultSize(r);
    bool only_with_devices = false;
    if (const std::string* filter = textParameter(r, "Filter")) {
      auto f = parseFilter(*filter);
      if (!f || f->property != "HasActiveSyncDevicePartnership" || f->op != "-eq" ||
          f->value != "$true") {
        return fail(
            invalidArgument("The simulator's Get-CASMailbox -Filter supports "
                            "\"HasActiveSyncDevicePartnership -eq $true\"; got: " +
                            *filter));
      }
      only_with_devices = true;
    }
    if (const std::string* id = textParameter(r, "Identity")) {
      auto m = mailboxNamed(org, *id);
      if (!m) return fail(m.error());
      send(casMailbox(m.value()->facts));
      return out;
    }
    for (const auto& m : org.mailboxes()) {
      if (only_with_devices && m.devices.empty()) continue;
      if (out.objects == limit) {
        if (!r.parameter("ResultSize")) out.warnings.push_back(moreResultsWarning(limit));
        break;
      }
      send(casMailbox(m.facts));
    }
    return out;
  }
  if (r.cmdlet == "Set-CASMailbox") {
    const std::string& id = *textParameter(r, "Identity");
    auto found = mailboxNamed(org, id);
    if (!found) return fail(found.error());
    SimMailbox* m = found.value();
    auto changed = org.changeLists(*m, listChange(r, "ActiveSyncAllowedDeviceIDs"),
                                   listChange(r, "ActiveSyncBlockedDeviceIDs"), now);
    if (!changed) {
      return fail(BridgeError{BridgeErrc::kDeviceIdInBothLists, changed.error().message,
                              "Microsoft.Exchange.Data.DataValidationException", 0});
    }
    return out;
  }
  if (r.cmdlet == "Clear-MobileDevice") {
    const std::string& id = *textParameter(r, "Identity");
    auto d = org.findDevice(id);
    if (!d) return fail(notFound(id));
    if (auto warning =
            org.wipe(*d, switchParameter(r, "AccountOnly"), switchParameter(r, "Cancel"), now)) {
      out.warnings.push_back(*warning);
    }
    return out;
  }
  if (r.cmdlet == "Remove-MobileDevice") {
    const std::string& id = *textParameter(r, "Identity");
    auto d = org.findDevice(id);
    if (!d) return fail(notFound(id));
    org.removeDevice(*d);
    return out;
  }
  if (r.cmdlet == "Get-ActiveSyncOrganizationSettings") {
    send(organizationSettings(std::string(accessLevelName(org.policy.default_level)),
                              org.admin_mail_recipients, org.user_mail_insert));
    return out;
  }
  if (r.cmdlet == "Set-ActiveSyncOrganizationSettings") {
    if (const std::string* level = textParameter(r, "DefaultAccessLevel")) {
      auto l = levelArgument(*level, "DefaultAccessLevel");
      if (!l) return fail(l.error());
      org.policy.default_level = l.value();
    }
    if (const ParameterValue* v = r.parameter("AdminMailRecipients")) {
      const auto* list = std::get_if<std::vector<std::string>>(v);
      org.admin_mail_recipients = list ? *list : std::vector<std::string>{};
    }
    // Devices learn their new state when they next connect; the simulator lets them all connect
    // at once, so the next harvest reads what Exchange will say within minutes.
    org.reevaluateAll(now);
    return out;
  }
  if (r.cmdlet == "Get-ActiveSyncDeviceAccessRule") {
    const std::string* id = textParameter(r, "Identity");
    bool found = false;
    for (const auto& rule : org.policy.rules) {
      if (id && !text::equalsIgnoreAsciiCase(rule.name(), *id)) continue;
      found = true;
      send(deviceAccessRule(rule.query_string,
                            std::string(exchange::characteristicName(rule.characteristic)),
                            std::string(accessLevelName(rule.level))));
    }
    if (id && !found) return fail(notFound(*id));
    return out;
  }
  if (r.cmdlet == "New-ActiveSyncDeviceAccessRule") {
    auto level = levelArgument(*textParameter(r, "AccessLevel"), "AccessLevel");
    if (!level) return fail(level.error());
    const std::string& characteristic = *textParameter(r, "Characteristic");
    auto c = exchange::characteristicNamed(characteristic);
    if (!c) {
      return fail(parameterBinding("Characteristic", characteristic,
                                   "DeviceType, DeviceModel, DeviceOS, UserAgent, XMSWLHeader"));
    }
    DeviceAccessRule rule{*c, *textParameter(r, "QueryString"), level.value()};
    for (const auto& existing : org.policy.rules) {
      if (existing.characteristic == rule.characteristic &&
          existing.query_string == rule.query_string) {
        return fail(BridgeError{BridgeErrc::kInvalidArgument,
                                "An Exchange ActiveSync device access rule '" + existing.name() +
                                    "' already exists for this query string and characteristic.",
                                "Microsoft.Exchange.Data.DataValidationException", 0});
      }
    }
    org.policy.rules.push_back(rule);
    org.reevaluateAll(now);
    send(deviceAccessRule(rule.query_string, std::string(exchange::characteristicName(*c)),
                          std::string(accessLevelName(rule.level))));
    return out;
  }
  if (r.cmdlet == "Set-ActiveSyncDeviceAccessRule" ||
      r.cmdlet == "Remove-ActiveSyncDeviceAccessRule") {
    const std::string& id = *textParameter(r, "Identity");
    auto& rules = org.policy.rules;
    auto it = std::find_if(rules.begin(), rules.end(), [&](const DeviceAccessRule& rule) {
      return text::equalsIgnoreAsciiCase(rule.name(), id);
    });
    if (it == rules.end()) return fail(notFound(id));
    if (r.cmdlet == "Remove-ActiveSyncDeviceAccessRule") {
      rules.erase(it);
    } else {
      auto level = levelArgument(*textParameter(r, "AccessLevel"), "AccessLevel");
      if (!level) return fail(level.error());
      it->level = level.value();
    }
    org.reevaluateAll(now);
    return out;
  }
  return fail(invalidArgument("The simulator does not implement " + r.cmdlet));
}

}  // namespace easgate::powershell::sim
