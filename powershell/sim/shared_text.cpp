#include "powershell/sim/shared_text.h"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace easgate::powershell::sim {
namespace {

// The values, by number, in chunks that never move once made: reading one takes no lock (the
// number was handed over after its value was written). Finding a value's number is an
// open-addressing table of numbers, behind a lock.
class Values {
 public:
  static constexpr std::size_t kChunkBits = 12;  // 4,096 values a chunk
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kMaxChunks = std::size_t{1} << 16;  // 268 million values

  const std::string& at(std::uint32_t id) const {
    return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & (kChunkSize - 1)];
  }

  std::uint32_t intern(std::string_view text) {
    std::lock_guard lock(mutex_);
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = std::hash<std::string_view>{}(text)&mask;; i = (i + 1) & mask) {
      if (slots_[i] == kFree) return slots_[i] = add(text);
      if (at(slots_[i]) == text) return slots_[i];
    }
  }

 private:
  static constexpr std::uint32_t kFree = 0xFFFFFFFF;

  std::uint32_t add(std::string_view text) {
    if (count_ == kMaxChunks * kChunkSize - 1) throw std::length_error("too many shared texts");
    const std::size_t chunk = count_ >> kChunkBits;
    if (count_ % kChunkSize == 0) {
      owned_.push_back(std::make_unique<std::string[]>(kChunkSize));
      chunks_[chunk].store(owned_.back().get(), std::memory_order_release);
    }
    owned_[chunk][count_ % kChunkSize] = text;
    return static_cast<std::uint32_t>(count_++);
  }

  void grow() {
    std::vector<std::uint32_t> slots(std::max<std::size_t>(1024, slots_.size() * 2), kFree);
    const std::size_t mask = slots.size() - 1;
    for (std::uint32_t id : slots_) {
      if (id == kFree) continue;
      std::size_t i = std::hash<std::string_view>{}(at(id)) & mask;
      while (slots[i] != kFree) i = (i + 1) & mask;
      slots[i] = id;
    }
    slots_ = std::move(slots);
  }

  std::mutex mutex_;
  std::size_t count_ = 0;
  std::vector<std::uint32_t> slots_;
  std::vector<std::unique_ptr<std::string[]>> owned_;
  std::array<std::atomic<std::string*>, kMaxChunks> chunks_{};
};

Values& values() {
  static Values* v = new Values;  // never destroyed: objects may outlive static destruction
  return *v;
}

}  // namespace

SharedText::SharedText() : SharedText(std::string_view()) {}

SharedText::SharedText(std::string_view text) : id_(values().intern(text)) {}

const std::string& SharedText::str() const { return values().at(id_); }

}  // namespace easgate::powershell::sim
