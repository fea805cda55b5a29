#include "service/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "service/system_log.h"

namespace easgate::service {

std::string setupLogging(const LogConfig& config, const std::string& name) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
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
