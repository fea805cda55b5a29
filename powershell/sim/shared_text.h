#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace easgate::powershell::sim {

// A string an organisation holds many copies of (a device type, an operating system, an
// access state, the identity of a mailbox on each of its devices): the process keeps each
// distinct value once, and every copy is a 4-byte number for it (at 200,000 partnerships of 14
// such fields, 100 MB less than a std::string each). Values are never freed: they are bounded
// by the organisation (at 100,000 mailboxes about 200,000, nearly all mailbox identities and
// names) and live as long as the simulator. Safe to make and read from several threads.
class SharedText {
 public:
  SharedText();
  SharedText(std::string_view text);  // NOLINT(google-explicit-constructor): a string's stand-in
  SharedText(const std::string& text) : SharedText(std::string_view(text)) {}  // NOLINT
  SharedText(const char* text) : SharedText(std::string_view(text)) {}         // NOLINT

  const std::string& str() const;
  operator const std::string&() const { return str(); }  // NOLINT
  operator std::string_view() const { return str(); }    // NOLINT
  const char* c_str() const { return str().c_str(); }
  bool empty() const { return str().empty(); }
  std::size_t size() const { return str().size(); }

  friend bool operator==(const SharedText& a, const SharedText& b) { return a.id_ == b.id_; }
  friend bool operator==(const SharedText& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SharedText& a, const char* b) { return a.str() == b; }
  friend bool operator==(const SharedText& a, const std::string& b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& out, const SharedText& t) { return out << t.str(); }
  friend std::string operator+(const SharedText& a, std::string_view b) {
    return a.str() + std::string(b);
  }
  friend std::string operator+(std::string_view a, const SharedText& b) {
    return std::string(a) + b.str();
  }

 private:
  std::uint32_t id_;  // the value's place in the process's table (shared_text.cpp)
};

}  // namespace easgate::powershell::sim
