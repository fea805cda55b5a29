#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

// Many texts kept for as long as their owner lives, packed into large blocks. A std::string is 32
// bytes and, past 15 characters, an allocation of its own (with the allocator's overhead); a view
// into an arena is 16 bytes and the text itself. For what holds one record per partnership of an
// organisation at once (a policy plan's inputs).
namespace easgate::text {

class TextArena {
 public:
  TextArena() = default;
  // Views stay valid: the blocks do not move. The arena moved from is empty, as a new one.
  TextArena(TextArena&& other) noexcept { *this = std::move(other); }
  TextArena& operator=(TextArena&& other) noexcept {
    blocks_ = std::move(other.blocks_);
    shared_ = std::move(other.shared_);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    other.blocks_.clear();
    other.shared_.clear();
    return *this;
  }
  TextArena(const TextArena&) = delete;
  TextArena& operator=(const TextArena&) = delete;

  // A copy of `text` that lives as long as the arena.
  std::string_view keep(std::string_view text) {
    if (text.empty()) return {};
    if (text.size() > capacity_ - used_) {
      // A text larger than a block gets one of its own size.
      capacity_ = std::max(kBlockBytes, text.size());
      blocks_.push_back(std::make_unique<char[]>(capacity_));
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, text.data(), text.size());
    used_ += text.size();
    return {at, text.size()};
  }

  // The same, kept once however often it is asked for: for texts that repeat (a device type, an
  // access state). Each distinct text costs a hash set's entry besides.
  std::string_view keepShared(std::string_view text) {
    if (auto found = shared_.find(text); found != shared_.end()) return *found;
    return *shared_.insert(keep(text)).first;
  }

 private:
  static constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t capacity_ = 0;  // of the last block (none before the first)
  std::size_t used_ = 0;      // of it
  std::unordered_set<std::string_view> shared_;
};

}  // namespace easgate::text
