#include "service/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "common/json/json_writer.h"
#include "common/time/utc_time.h"
#include "service/system_log.h"

namespace easgate::service {
namespace {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override {
    line_.clear();
    json::JsonWriter json(line_);
    json.beginObject();
    json.key("time");
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch())
            .count();
    json.string(utc::formatUnixMs(ms));
    json.key("level");
    const auto level = spdlog::level::to_string_view(message.level);
    json.string(std::string_view(level.data(), level.size()));
    json.key("logger");
    json.string(std::string_view(message.logger_name.data(), message.logger_name.size()));
    json.key("thread");
    json.number(static_cast<std::int64_t>(message.thread_id));
    json.key("message");
    json.string(std::string_view(message.payload.data(), message.payload.size()));
    json.endObject();
    line_.push_back('\n');
    dest.append(line_.data(), line_.data() + line_.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLogFormatter>();
  }

 private:
  std::string line_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> makeJsonLogFormatter() {
  return std::make_unique<JsonLogFormatter>();
}

std::string setupLogging(const LogConfig& config, const std::string& name) {
  std::vector<spdlog::sink_ptr> sinks;
  if (config.format == "json") {
    // No colours: an escape sequence in a JSON line would be part of the text.
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  }
  std::string warning;
  if (!config.file.empty() && config.file != "-") {
    try {
      std::filesystem::create_directories(std::filesystem::path(config.file).parent_path());
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          config.file, config.max_size_mb * 1024 * 1024, config.max_files));
    } catch (const std::exception& e) {
      warning = "cannot log to " + config.file + ": " + e.what();
    }
  }
  if (config.format == "json") {
    for (auto& sink : sinks) sink->set_formatter(makeJsonLogFormatter());
  }
  if (config.system_log) {
    if (auto sink = systemLogSink(name)) sinks.push_back(std::move(sink));
  }
  auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(config.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(2));
  return warning;
}

}  // namespace easgate::service
