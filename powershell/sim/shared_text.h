#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace easgate::powershell::sim {

// A string an organisation holds many copies of (a device type, an operating system, an
// access state, the identity of a mailbox on each of its devices): the process keeps each
// distinct value once, and every copy is a pointer to it (at 200,000 partnerships, 100 MB less
// than a std::string each). Values are never freed: they are bounded by the organisation
// (at 100,000 mailboxes about 200,000, nearly all mailbox identities and names) and live as
// long as the simulator.
class SharedText {
 public:
  SharedText();
  SharedText(std::string_view text);  // NOLINT(google-explicit-constructor): a string's stand-in
  SharedText(const std::string& text) : SharedText(std::string_view(text)) {}  // NOLINT
  SharedText(const char* text) : SharedText(std::string_view(text)) {}         // NOLINT

  const std::string& str() const { return *text_; }
  operator const std::string&() const { return *text_; }  // NOLINT
  operator std::string_view() const { return *text_; }    // NOLINT
  const char* c_str() const { return text_->c_str(); }
  bool empty() const { return text_->empty(); }
  std::size_t size() const { return text_->size(); }

  friend bool operator==(const SharedText& a, const SharedText& b) { return a.text_ == b.text_; }
  friend bool operator==(const SharedText& a, std::string_view b) { return *a.text_ == b; }
  friend bool operator==(const SharedText& a, const char* b) { return *a.text_ == b; }
  friend bool operator==(const SharedText& a, const std::string& b) { return *a.text_ == b; }
  friend std::ostream& operator<<(std::ostream& out, const SharedText& t) {
    return out << *t.text_;
  }
  friend std::string operator+(const SharedText& a, std::string_view b) {
    return *a.text_ + std::string(b);
  }
  friend std::string operator+(std::string_view a, const SharedText& b) {
    return std::string(a) + *b.text_;
  }

 private:
  const std::string* text_;
};

}  // namespace easgate::powershell::sim
