#include "service/agent_config.h"

#include <fstream>
#include <set>

#include "common/json/json_value.h"
#include "service/console.h"

namespace easgate::service {
namespace {

using json::JsonValue;

// Reads members of one object, remembering which were used so the rest can be refused.
class Section {
 public:
  Section(const JsonValue* value, std::string path) : value_(value), path_(std::move(path)) {}

  std::string error;  // the first problem found

  bool present() const { return value_ != nullptr; }

  const JsonValue* member(const char* name) {
    used_.insert(name);
    return value_ ? value_->find(name) : nullptr;
  }

  Section section(const char* name) {
    const JsonValue* v = member(name);
    if (v && !v->isObject()) fail(name, "must be an object");
    return Section(v && v->isObject() ? v : nullptr, where(name));
  }

  void text(const char* name, std::string& out) {
    if (const JsonValue* v = member(name)) {
      if (v->asString()) {
        out = *v->asString();
      } else {
        fail(name, "must be a string");
      }
    }
  }

  void path(const char* name, std::string& out, const std::filesystem::path& base) {
    std::string value;
    text(name, value);
    if (value == "-") {
      out = value;  // "none", where a path may be switched off
    } else if (!value.empty()) {
      out = resolve(value, base).string();
    }
  }

  template <class N>
  void number(const char* name, N& out, double min, double max) {
    if (const JsonValue* v = member(name)) {
      const auto n = v->asNumber();
      if (!n || *n < min || *n > max) {
        fail(name, "must be a number from " + trim(min) + " to " + trim(max));
      } else {
        out = static_cast<N>(*n);
      }
    }
  }

  void flag(const char* name, bool& out) {
    if (const JsonValue* v = member(name)) {
      if (auto b = v->asBool()) {
        out = *b;
      } else {
        fail(name, "must be true or false");
      }
    }
  }

  void strings(const char* name, std::vector<std::string>& out) {
    if (const JsonValue* v = member(name)) {
      if (!v->asArray()) return fail(name, "must be an array of strings");
      out.clear();
      for (const auto& item : *v->asArray()) {
        if (!item.asString()) return fail(name, "must be an array of strings");
        out.push_back(*item.asString());
      }
    }
  }

  void role(const char* name, agent::api::Role& out) {
    std::string value;
    text(name, value);
    if (value.empty()) return;
    if (auto r = agent::api::roleNamed(value)) {
      out = *r;
    } else {
      fail(name, "must be none, reader, operator or admin");
    }
  }

  // Refuses members nobody asked for: a typo must not pass for a default.
  void finish() {
    if (!value_ || !error.empty()) return;
    for (const auto& [name, v] : *value_->asObject()) {
      if (!used_.count(name)) {
        error = where(name) + ": unknown key";
        return;
      }
    }
  }

  void fail(const std::string& name, const std::string& message) {
    if (error.empty()) error = where(name) + ": " + message;
  }

  static std::filesystem::path resolve(const std::string& value,
                                       const std::filesystem::path& base) {
    std::filesystem::path p(value);
    return p.is_absolute() ? p : base / p;
  }

 private:
  std::string where(const std::string& name) const {
    return path_.empty() ? name : path_ + "." + name;
  }
  static std::string trim(double d) {
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }

  const JsonValue* value_;
  std::string path_;
  std::set<std::string> used_;
};

}  // namespace

Result<AgentConfig, std::string> loadAgentConfig(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "cannot read the configuration file " + file.string();
  const std::string text(std::istreambuf_iterator<char>(in), {});
  auto doc = json::parseJson(text, 16);
  if (!doc) return file.string() + " is not valid JSON: " + doc.error().message;
  if (!doc->isObject()) return file.string() + " must hold a JSON object";
  const std::filesystem::path base = std::filesystem::absolute(file).parent_path();

  AgentConfig c;
  c.runtime.data_directory = defaultDataDirectory();
  std::vector<std::string> problems;
  Section root(&doc.value(), "");
  std::string data_dir;
  root.path("data_dir", data_dir, base);
  if (!data_dir.empty()) c.runtime.data_directory = data_dir;

  Section listen = root.section("listen");
  listen.text("address", c.listen.address);
  listen.number("port", c.listen.port, 0, 65535);
  listen.flag("plain_http", c.listen.plain_http);
  listen.role("anonymous_role", c.anonymous_role);
  listen.number("workers", c.listen.workers, 1, 256);
  listen.number("io_threads", c.listen.io_threads, 1, 64);
  listen.finish();

  Section tls = root.section("tls");
  tls.path("certificate", c.listen.tls.certificate_file, base);
  tls.path("key", c.listen.tls.key_file, base);
  tls.path("client_ca", c.listen.tls.client_ca_file, base);
  tls.path("client_crl", c.listen.tls.client_crl_file, base);
  double crl_recheck_seconds = 30;
  tls.number("client_crl_recheck_seconds", crl_recheck_seconds, 1, 86400);
  c.listen.tls.revocation_recheck =
      std::chrono::milliseconds(static_cast<std::int64_t>(crl_recheck_seconds * 1000));
  tls.flag("require_client_certificate", c.listen.tls.require_client_certificate);
  tls.finish();

  if (const JsonValue* clients = root.member("clients")) {
    if (!clients->asArray()) {
      root.fail("clients", "must be an array of {subject or thumbprint, role}");
    } else {
      for (std::size_t i = 0; i < clients->asArray()->size(); ++i) {
        const JsonValue& item = (*clients->asArray())[i];
        Section client(item.isObject() ? &item : nullptr, "clients[" + std::to_string(i) + "]");
        if (!item.isObject()) {
          root.fail("clients[" + std::to_string(i) + "]", "must be an object");
          break;
        }
        agent::api::ClientRule rule;
        client.text("subject", rule.subject);
        client.text("thumbprint", rule.thumbprint);
        client.role("role", rule.role);
        client.finish();
        if (client.error.empty() && rule.subject.empty() == rule.thumbprint.empty()) {
          client.error = "clients[" + std::to_string(i) + "]: give a subject or a thumbprint";
        }
        if (client.error.empty() && rule.role == agent::api::Role::kNone) {
          client.error = "clients[" + std::to_string(i) + "]: role is reader, operator or admin";
        }
        if (!client.error.empty()) problems.push_back(client.error);
        c.clients.push_back(std::move(rule));
      }
    }
  }

  Section limits = root.section("rate_limit");
  limits.number("per_second", c.requests_per_second, 0, 1e6);
  limits.number("burst", c.burst, 1, 1e6);
  limits.finish();

  ExchangeOptions& x = c.runtime.exchange;
  Section exchange = root.section("exchange");
  exchange.text("kind", x.exchange);
  exchange.path("simulator", x.simulator, base);
  exchange.strings("simulator_arguments", x.simulator_arguments);
  exchange.text("powershell", x.powershell);
  exchange.path("bridge_script", x.bridge_script, base);
  exchange.text("server", x.server);
  exchange.text("app_id", x.app_id);
  exchange.text("organization", x.organization);
  exchange.path("certificate_file", x.certificate_file, base);
  exchange.text("certificate_thumbprint", x.certificate_thumbprint);
  exchange.path("module", x.module_path, base);
  exchange.number("pool", x.pool, 0, 64);
  exchange.number("request_timeout_seconds", x.request_timeout_seconds, 1, 86400);
  exchange.finish();

  Section harvest = root.section("harvest");
  harvest.number("full_minutes", c.runtime.full_harvest_minutes, 0, 1e6);
  harvest.number("delta_minutes", c.runtime.delta_harvest_minutes, 0, 1e6);
  harvest.flag("correct_drift", c.runtime.correct_drift);
  harvest.number("history_days", c.runtime.history_days, 0, 36500);
  harvest.finish();

  Section commands = root.section("commands");
  commands.number("deadline_hours", c.command_deadline_hours, 0.01, 24 * 365);
  commands.number("first_retry_seconds", c.runtime.first_retry_seconds, 0.001, 86400);
  commands.number("max_retry_seconds", c.runtime.max_retry_seconds, 0.001, 86400);
  commands.finish();

  Section log = root.section("log");
  log.path("file", c.log.file, base);
  log.text("level", c.log.level);
  log.text("format", c.log.format);
  log.number("max_size_mb", c.log.max_size_mb, 1, 10240);
  log.number("max_files", c.log.max_files, 1, 1000);
  log.flag("system_log", c.log.system_log);
  log.finish();
  root.finish();

  for (const Section* s : {&listen, &tls, &limits, &exchange, &harvest, &commands, &log, &root}) {
    if (!s->error.empty()) problems.insert(problems.begin(), s->error);
  }
  if (!problems.empty()) return file.string() + ": " + problems.front();

  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.count(c.log.level)) {
    return file.string() + ": log.level: one of trace, debug, info, warn, error, off";
  }
  if (c.log.format != "text" && c.log.format != "json") {
    return file.string() + ": log.format: text or json";
  }
  if (!c.listen.plain_http && c.clients.empty() && c.listen.tls.require_client_certificate) {
    return file.string() +
           ": clients: no client is mapped to a role, so every request would be refused";
  }
  if (c.anonymous_role != agent::api::Role::kNone && !c.listen.plain_http) {
    return file.string() +
           ": listen.anonymous_role is only for a plain-HTTP development agent on loopback";
  }
  if (c.log.file.empty()) c.log.file = (c.runtime.data_directory / "logs" / "easgate.log").string();
  return c;
}

}  // namespace easgate::service
