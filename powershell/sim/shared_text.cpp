#include "powershell/sim/shared_text.h"

#include <mutex>
#include <unordered_set>

namespace easgate::powershell::sim {
namespace {

struct Values {
  std::mutex mutex;
  std::unordered_set<std::string> set;  // a set's elements never move
};

Values& values() {
  static Values* v = new Values;  // never destroyed: objects may outlive static destruction
  return *v;
}

}  // namespace

SharedText::SharedText() : SharedText(std::string_view()) {}

SharedText::SharedText(std::string_view text) {
  Values& v = values();
  std::lock_guard lock(v.mutex);
  text_ = &*v.set.emplace(text).first;
}

}  // namespace easgate::powershell::sim
