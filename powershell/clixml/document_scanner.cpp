#include "powershell/clixml/document_scanner.h"

#include <cstring>

namespace easgate::powershell {
namespace {

constexpr std::string_view kRoot = "Objs";
constexpr std::string_view kPreamble = "#< CLIXML";

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool isNameEnd(char c) { return isSpace(c) || c == '>' || c == '/'; }

bool startsWith(std::string_view text, std::size_t pos, std::string_view prefix) {
  return text.size() - pos >= prefix.size() && text.compare(pos, prefix.size(), prefix) == 0;
}

// One past the '>' ending the tag whose '<' is at `lt` (quoted values may hold '>'), or npos
// when the tag is cut off or holds a '<' outside quotes, whose place is then `stray`. A plain
// loop: a value has tens of thousands of tags, and findElementEnd() builds no Result for each.
std::size_t tagEnd(std::string_view text, std::size_t lt, std::size_t& stray) {
  const char* p = text.data() + lt + 1;
  const char* const end = text.data() + text.size();
  while (p < end) {
    const char c = *p;
    if (c == '>') return static_cast<std::size_t>(p + 1 - text.data());
    if (c == '<') {
      stray = static_cast<std::size_t>(p - text.data());
      return std::string_view::npos;
    }
    if (c == '"' || c == '\'') {
      const void* close = std::memchr(p + 1, c, static_cast<std::size_t>(end - p - 1));
      if (!close) return std::string_view::npos;
      p = static_cast<const char*>(close);
    }
    ++p;
  }
  return std::string_view::npos;
}

}  // namespace

std::string describePosition(std::string_view text, std::size_t offset) {
  if (offset > text.size()) offset = text.size();
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  std::size_t column = 1;
  for (std::size_t i = line_start; i < offset; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++column;  // count characters
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

ClixmlError DocumentScanner::fail(ClixmlErrc code, std::size_t at, std::string what) const {
  return ClixmlError{code, describePosition(text_, at) + ": " + what};
}

void DocumentScanner::skipSpace() {
  while (pos_ < text_.size() && isSpace(text_[pos_])) ++pos_;
}

Result<bool, ClixmlError> DocumentScanner::skipMarkup() {
  // Every kind opens with "<!" or "<?"; an element's tag, nearly every '<' of a document, is
  // told apart by its second character alone.
  if (pos_ + 1 >= text_.size() || (text_[pos_ + 1] != '!' && text_[pos_ + 1] != '?')) {
    return false;
  }
  struct Kind {
    std::string_view open, close, what;
  };
  static constexpr Kind kKinds[] = {{"<!--", "-->", "comment"},
                                    {"<![CDATA[", "]]>", "CDATA section"},
                                    {"<?", "?>", "processing instruction"}};
  for (const auto& kind : kKinds) {
    if (!startsWith(text_, pos_, kind.open)) continue;
    std::size_t close = text_.find(kind.close, pos_ + kind.open.size());
    if (close == std::string_view::npos) {
      return fail(ClixmlErrc::kTruncated, pos_,
                  std::string("unterminated ") + std::string(kind.what));
    }
    pos_ = close + kind.close.size();
    return true;
  }
  if (startsWith(text_, pos_, "<!")) {
    return fail(ClixmlErrc::kStructure, pos_,
                "a DOCTYPE or other declaration is not allowed in CLIXML");
  }
  return false;
}

Result<bool, ClixmlError> DocumentScanner::skipTag() {
  std::size_t stray = std::string_view::npos;
  const std::size_t end = tagEnd(text_, pos_, stray);
  if (end == std::string_view::npos) {
    if (stray != std::string_view::npos)
      return fail(ClixmlErrc::kSyntax, stray, "'<' inside a tag");
    return fail(ClixmlErrc::kTruncated, pos_, "the document ends inside a tag");
  }
  pos_ = end;
  return text_[end - 2] == '/';
}

Result<std::size_t, ClixmlError> findElementEnd(std::string_view text, std::size_t begin) {
  // Follow tags until the depth returns to where it started; a scanner positioned at a tag
  // that does not end says what is wrong with it.
  DocumentScanner walker(text);
  std::size_t pos = begin;
  std::size_t depth = 0;
  while (pos < text.size()) {
    if (text[pos] != '<') {
      const void* lt = std::memchr(text.data() + pos, '<', text.size() - pos);
      if (!lt) break;
      pos = static_cast<std::size_t>(static_cast<const char*>(lt) - text.data());
    }
    const char second = pos + 1 < text.size() ? text[pos + 1] : '\0';
    if (second == '!' || second == '?') {  // a comment, CDATA section or PI, or an error
      walker.pos_ = pos;
      auto markup = walker.skipMarkup();
      if (!markup) return markup.error();
      pos = walker.pos_;
      continue;
    }
    std::size_t stray = std::string_view::npos;
    const std::size_t end = tagEnd(text, pos, stray);
    if (end == std::string_view::npos) {  // skipTag() says what is wrong with it
      walker.pos_ = pos;
      return walker.skipTag().error();
    }
    if (second == '/') {
      if (depth == 0) return walker.fail(ClixmlErrc::kSyntax, begin, "end tag without a start tag");
      --depth;
    } else if (text[end - 2] != '/') {
      ++depth;
    }
    pos = end;
    if (depth == 0) return pos;
  }
  return walker.fail(ClixmlErrc::kTruncated, begin,
                     "the document ends inside this value: the file is truncated");
}

Result<std::optional<ValueSpan>, ClixmlError> DocumentScanner::next() {
  switch (state_) {
    case State::kProlog: return readProlog();
    case State::kValues: return readValue();
    case State::kDone: return std::optional<ValueSpan>();
  }
  return std::optional<ValueSpan>();
}

Result<std::optional<ValueSpan>, ClixmlError> DocumentScanner::readProlog() {
  if (startsWith(text_, 0, kPreamble)) {
    std::size_t eol = text_.find('\n');
    pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
  }
  while (true) {
    skipSpace();
    if (pos_ >= text_.size()) {
      return fail(ClixmlErrc::kTruncated, pos_, "no <Objs> element: this is not a CLIXML document");
    }
    if (text_[pos_] != '<') {
      return fail(ClixmlErrc::kStructure, pos_,
                  "text before the <Objs> element: this is not a CLIXML document");
    }
    auto markup = skipMarkup();
    if (!markup) return markup.error();
    if (markup.value()) continue;
    std::size_t name_start = pos_ + 1, name_end = name_start;
    while (name_end < text_.size() && !isNameEnd(text_[name_end])) ++name_end;
    std::string_view name = text_.substr(name_start, name_end - name_start);
    if (name != kRoot) {
      return fail(ClixmlErrc::kStructure, pos_,
                  "the root element is <" + std::string(name) + ">, expected <Objs>");
    }
    auto self_closing = skipTag();
    if (!self_closing) return self_closing.error();
    state_ = self_closing.value() ? State::kDone : State::kValues;
    if (state_ == State::kDone) return readEpilog();
    return readValue();
  }
}

Result<std::optional<ValueSpan>, ClixmlError> DocumentScanner::readValue() {
  while (true) {
    skipSpace();
    if (pos_ >= text_.size()) {
      return fail(ClixmlErrc::kTruncated, pos_,
                  "the document ends without </Objs>: the file is truncated");
    }
    if (text_[pos_] != '<') {
      return fail(ClixmlErrc::kStructure, pos_, "text between values inside <Objs>");
    }
    if (startsWith(text_, pos_, "<![CDATA[")) {
      return fail(ClixmlErrc::kStructure, pos_, "a CDATA section between values inside <Objs>");
    }
    auto markup = skipMarkup();
    if (!markup) return markup.error();
    if (markup.value()) continue;
    if (startsWith(text_, pos_, "</")) {
      std::size_t name_end = pos_ + 2;
      while (name_end < text_.size() && !isNameEnd(text_[name_end])) ++name_end;
      if (name_end >= text_.size()) {
        return fail(ClixmlErrc::kTruncated, pos_,
                    "the document ends inside its closing tag: the file is truncated");
      }
      if (text_.substr(pos_ + 2, name_end - pos_ - 2) != kRoot) {
        return fail(ClixmlErrc::kSyntax, pos_, "unexpected end tag; expected </Objs>");
      }
      auto tag = skipTag();
      if (!tag) return tag.error();
      state_ = State::kDone;
      return readEpilog();
    }
    break;
  }

  auto end = findElementEnd(text_, pos_);
  if (!end) return end.error();
  ValueSpan span{pos_, end.value()};
  pos_ = span.end;
  return std::optional<ValueSpan>(span);
}

Result<std::optional<ValueSpan>, ClixmlError> DocumentScanner::readEpilog() {
  while (true) {
    skipSpace();
    if (pos_ >= text_.size()) return std::optional<ValueSpan>();
    if (text_[pos_] == '<') {
      auto markup = skipMarkup();
      if (!markup) return markup.error();
      if (markup.value()) continue;
    }
    return fail(ClixmlErrc::kStructure, pos_, "content after </Objs>");
  }
}

}  // namespace easgate::powershell
