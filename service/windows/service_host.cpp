// Everything about the Service Control Manager is in this file. When the process was not
// started by the SCM, StartServiceCtrlDispatcher fails with
// ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and the agent runs in the console instead.
#include "service/service_host.h"

#include <windows.h>

#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "service/console.h"

namespace easgate::service {
namespace {

std::wstring wide(const std::string& text) {
  if (text.empty()) return {};
  const int n =
      MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
  return out;
}

// Start-up failures go to the Application log under the source the installer registers.
void reportToEventLog(const std::string& source, const std::string& message) {
  HANDLE log = RegisterEventSourceW(nullptr, wide(source).c_str());
  if (!log) return;
  const std::wstring text = wide(message);
  LPCWSTR strings[] = {text.c_str()};
  // Event ID 1000: the message the installer registers (mscoree.dll's "%1"), as spdlog's sink uses.
  ReportEventW(log, EVENTLOG_ERROR_TYPE, 0, 1000, nullptr, 1, 0, strings, nullptr);
  DeregisterEventSource(log);
}

class ConsoleEvents final : public ServiceEvents {
 public:
  explicit ConsoleEvents(std::string name) : name_(std::move(name)) {}
  void onStop(std::function<void()> stop) override { onStopRequest(std::move(stop)); }
  void ready(const std::string&) override {}
  void stopping() override {}
  void startFailed(const std::string& why) override {
    std::cerr << name_ << ": cannot start: " << why << "\n";
  }

 private:
  std::string name_;
};

// The one service this process hosts: the SCM calls back into plain functions, so its state
// lives here.
struct ScmService final : ServiceEvents {
  std::string name;
  const std::function<int(ServiceEvents&)>* body = nullptr;
  SERVICE_STATUS_HANDLE handle = nullptr;
  SERVICE_STATUS status{};
  std::mutex mutex;
  std::function<void()> stop;
  std::once_flag stop_once;
  int exit_code = 0;

  void setState(DWORD state, DWORD wait_hint_ms = 0) {
    std::lock_guard lock(mutex);
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    status.dwServiceSpecificExitCode = static_cast<DWORD>(exit_code);
    status.dwWaitHint = wait_hint_ms;
    ++status.dwCheckPoint;
    if (state == SERVICE_RUNNING || state == SERVICE_STOPPED) status.dwCheckPoint = 0;
    SetServiceStatus(handle, &status);
  }

  void onStop(std::function<void()> callback) override {
    std::lock_guard lock(mutex);
    stop = std::move(callback);
  }
  void ready(const std::string&) override { setState(SERVICE_RUNNING); }
  void stopping() override { setState(SERVICE_STOP_PENDING, 30'000); }
  void startFailed(const std::string& why) override {
    reportToEventLog(name, "easgate could not start: " + why);
  }

  void requestStop() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mutex);
      callback = stop;
    }
    setState(SERVICE_STOP_PENDING, 30'000);
    if (callback) std::call_once(stop_once, callback);
  }
};

ScmService* service = nullptr;

DWORD WINAPI controlHandler(DWORD control, DWORD, LPVOID, LPVOID) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN: service->requestStop(); return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE: return NO_ERROR;
    default: return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI serviceMain(DWORD, LPWSTR*) {
  service->handle =
      RegisterServiceCtrlHandlerExW(wide(service->name).c_str(), controlHandler, nullptr);
  if (!service->handle) return;
  service->setState(SERVICE_START_PENDING, 60'000);
  service->exit_code = (*service->body)(*service);
  service->setState(SERVICE_STOPPED);
}

}  // namespace

int runAsService(const std::string& name, const std::function<int(ServiceEvents&)>& body) {
  ScmService scm;
  scm.name = name;
  scm.body = &body;
  service = &scm;
  std::wstring wide_name = wide(name);
  SERVICE_TABLE_ENTRYW table[] = {{wide_name.data(), serviceMain}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table)) return scm.exit_code;
  service = nullptr;
  if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
    std::cerr << name << ": cannot reach the Service Control Manager (error " << GetLastError()
              << ")\n";
    return 1;
  }
  ConsoleEvents console(name);
  return body(console);
}

}  // namespace easgate::service
