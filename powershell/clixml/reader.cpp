// The CLIXML reader: DocumentScanner finds each top-level value, pugixml parses it, and
// ValueBuilder turns the XML into PsValues. pugixml types never leave this file.
#include "powershell/clixml/reader.h"

#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <pugixml.hpp>

#include "common/text/utf.h"
#include "powershell/clixml/document_scanner.h"
#include "powershell/clixml/escape.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell {
namespace {

// Keep whitespace-only text when it is an element's only content (<S>   </S>), drop it
// between elements; never expand entities beyond XML's five and character references.
constexpr unsigned kParseOptions = pugi::parse_default | pugi::parse_ws_pcdata_single;

// Deeper nesting than any PowerShell serialization depth: a guard against hostile input.
constexpr int kMaxDepth = 128;

// Every element CLIXML defines, and the type a primitive one carries.
enum class Element {
  kUnknown,
  kPrimitive,
  kNil,
  kObj,
  kRef,
  kTN,
  kTNRef,
  kToString,
  kProps,
  kMS,
  kLST,
  kIE,
  kSTK,
  kQUE,
  kDCT,
};

struct Classified {
  Element element = Element::kUnknown;
  PsType type = PsType::kNil;
};

Classified classify(const char* name) {
  struct Entry {
    const char* name;
    Element element;
    PsType type;
  };
  static constexpr Entry kEntries[] = {
      {"S", Element::kPrimitive, PsType::kString},
      {"Obj", Element::kObj, PsType::kObject},
      {"I32", Element::kPrimitive, PsType::kInt32},
      {"B", Element::kPrimitive, PsType::kBool},
      {"DT", Element::kPrimitive, PsType::kDateTime},
      {"Nil", Element::kNil, PsType::kNil},
      {"G", Element::kPrimitive, PsType::kGuid},
      {"Ref", Element::kRef, PsType::kObject},
      {"TN", Element::kTN, PsType::kNil},
      {"TNRef", Element::kTNRef, PsType::kNil},
      {"ToString", Element::kToString, PsType::kNil},
      {"Props", Element::kProps, PsType::kNil},
      {"MS", Element::kMS, PsType::kNil},
      {"LST", Element::kLST, PsType::kNil},
      {"I64", Element::kPrimitive, PsType::kInt64},
      {"DCT", Element::kDCT, PsType::kNil},
      {"IE", Element::kIE, PsType::kNil},
      {"STK", Element::kSTK, PsType::kNil},
      {"QUE", Element::kQUE, PsType::kNil},
      {"C", Element::kPrimitive, PsType::kChar},
      {"TS", Element::kPrimitive, PsType::kTimeSpan},
      {"By", Element::kPrimitive, PsType::kByte},
      {"SB", Element::kPrimitive, PsType::kSByte},
      {"U16", Element::kPrimitive, PsType::kUInt16},
      {"I16", Element::kPrimitive, PsType::kInt16},
      {"U32", Element::kPrimitive, PsType::kUInt32},
      {"U64", Element::kPrimitive, PsType::kUInt64},
      {"Sg", Element::kPrimitive, PsType::kSingle},
      {"Db", Element::kPrimitive, PsType::kDouble},
      {"D", Element::kPrimitive, PsType::kDecimal},
      {"URI", Element::kPrimitive, PsType::kUri},
      {"Version", Element::kPrimitive, PsType::kVersion},
      {"XD", Element::kPrimitive, PsType::kXmlDocument},
      {"SBK", Element::kPrimitive, PsType::kScriptBlock},
      {"SS", Element::kPrimitive, PsType::kSecureString},
      {"BA", Element::kPrimitive, PsType::kByteArray},
  };
  for (const auto& e : kEntries) {
    if (std::strcmp(name, e.name) == 0) return {e.element, e.type};
  }
  return {};
}

bool isBlank(const char* s) {
  for (; *s; ++s) {
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
  }
  return true;
}

// Thrown inside this file only, and turned into a ClixmlError at the reader's boundary.
struct Failure {
  ClixmlErrc code;
  std::size_t offset;  // in the document's text
  std::string message;
};

// Where a node starts within the buffer pugixml parsed; 0 when it cannot tell.
std::size_t nodeOffset(pugi::xml_node node) {
  std::ptrdiff_t offset = node.offset_debug();
  // pugixml reports where an element's name starts; people count from its '<'.
  if (node.type() == pugi::node_element && offset > 0) --offset;
  return offset > 0 ? static_cast<std::size_t>(offset) : 0;
}

std::string describeElement(pugi::xml_node node) { return std::string("<") + node.name() + ">"; }

}  // namespace

struct ClixmlReader::Impl {
  explicit Impl(std::string utf8)
      : text(std::move(utf8)), scanner(text), reparse_budget(2 * text.size() + (1u << 20)) {}

  [[noreturn]] void fail(pugi::xml_node node, ClixmlErrc code, std::string message) const {
    throw Failure{code, base_offset + nodeOffset(node), std::move(message)};
  }
  std::shared_ptr<const PsObject> resolveRef(pugi::xml_node node, int depth);
  std::shared_ptr<const PsObject> reparse(std::size_t offset, pugi::xml_node ref, int depth);

  PsValue readValue(pugi::xml_node node, int depth);
  std::shared_ptr<const PsObject> readObject(pugi::xml_node node, int depth);
  PsValue readPrimitive(pugi::xml_node node, PsType type);
  PsTypeNames readTypeNames(pugi::xml_node node);
  void readProperties(pugi::xml_node node, std::vector<PsProperty>& out, int depth);
  void readItems(pugi::xml_node node, std::vector<PsValue>& out, int depth);
  void readDictionary(pugi::xml_node node, std::vector<PsDictionaryEntry>& out, int depth);
  std::string_view textOf(pugi::xml_node node);

  std::string text;
  DocumentScanner scanner;
  pugi::xml_document document;
  // Every <Obj> with a RefId, by RefId. Only weakly held, so memory follows the values the
  // caller keeps; a <Ref> to an object nobody holds any more parses it again from `offset`.
  struct ObjectEntry {
    std::weak_ptr<const PsObject> live;
    std::size_t offset = 0;  // of its '<' in `text`
  };
  std::unordered_map<std::string, ObjectEntry> objects;
  std::unordered_map<std::string, PsTypeNames> type_names;  // by TN RefId
  std::unordered_set<std::string> objects_in_progress;
  std::string scratch;
  std::string value_buffer;  // the value being parsed; pugixml's strings point into it
  std::optional<ClixmlError> failure;
  std::size_t base_offset = 0;  // where the buffer pugixml is reading starts in `text`
  int reparsing = 0;            // > 0 while an object is parsed again for a <Ref>
  // Bytes that may be parsed again, in all: a hostile document of many <Ref>s to one large
  // object must not cost quadratic time.
  std::size_t reparse_budget;
};

// The text content of an element with no child elements (pcdata and CDATA joined).
std::string_view ClixmlReader::Impl::textOf(pugi::xml_node node) {
  pugi::xml_node first = node.first_child();
  if (!first) return {};
  if (!first.next_sibling() &&
      (first.type() == pugi::node_pcdata || first.type() == pugi::node_cdata)) {
    return first.value();
  }
  scratch.clear();
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_element) {
      fail(child, ClixmlErrc::kStructure,
           describeElement(child) + " inside " + describeElement(node) + ", which holds text only");
    }
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata)
      scratch += child.value();
  }
  return scratch;
}

PsValue ClixmlReader::Impl::readPrimitive(pugi::xml_node node, PsType type) {
  std::string_view raw = textOf(node);
  auto bad = [&]() -> PsValue {
    std::string shown(raw.substr(0, 40));
    fail(node, ClixmlErrc::kValue,
         "<" + std::string(elementName(type)) + "> holds \"" + shown + "\", which is not a valid " +
             std::string(elementName(type)) + " value");
  };
  using Lim64 = std::numeric_limits<std::int64_t>;
  switch (type) {
    case PsType::kString:
    case PsType::kUri:
    case PsType::kXmlDocument:
    case PsType::kScriptBlock: return PsValue::text(type, escape::decode(raw));
    case PsType::kSecureString: return PsValue::text(type, std::string(raw));
    case PsType::kBool:
      if (auto v = scalars::parseBool(raw)) return PsValue::boolean(*v);
      return bad();
    case PsType::kSByte:
    case PsType::kInt16:
    case PsType::kInt32:
    case PsType::kInt64: {
      static constexpr std::int64_t kMax[] = {127, 32767, 2147483647, Lim64::max()};
      int i = type == PsType::kSByte   ? 0
              : type == PsType::kInt16 ? 1
              : type == PsType::kInt32 ? 2
                                       : 3;
      if (auto v = scalars::parseSigned(raw, -kMax[i] - 1, kMax[i]))
        return PsValue::signedInt(type, *v);
      return bad();
    }
    case PsType::kByte:
    case PsType::kUInt16:
    case PsType::kUInt32:
    case PsType::kUInt64:
    case PsType::kChar: {
      std::uint64_t max = type == PsType::kByte                              ? 0xFF
                          : type == PsType::kUInt16 || type == PsType::kChar ? 0xFFFF
                          : type == PsType::kUInt32                          ? 0xFFFFFFFF
                                                                             : ~std::uint64_t{0};
      if (auto v = scalars::parseUnsigned(raw, max)) return PsValue::unsignedInt(type, *v);
      return bad();
    }
    case PsType::kSingle:
      if (auto v = scalars::parseSingle(raw)) return PsValue::real(type, *v);
      return bad();
    case PsType::kDouble:
      if (auto v = scalars::parseDouble(raw)) return PsValue::real(type, *v);
      return bad();
    case PsType::kDecimal:
      if (auto v = scalars::parseDecimal(raw)) return PsValue::text(type, std::move(*v));
      return bad();
    case PsType::kGuid:
      if (auto v = scalars::parseGuid(raw)) return PsValue::text(type, std::move(*v));
      return bad();
    case PsType::kVersion:
      if (auto v = scalars::parseVersion(raw)) return PsValue::text(type, std::move(*v));
      return bad();
    case PsType::kByteArray:
      if (auto v = scalars::parseBase64(raw)) return PsValue::bytes(std::move(*v));
      return bad();
    case PsType::kDateTime:
      if (auto v = scalars::parseDateTime(raw)) return PsValue::dateTime(*v);
      return bad();
    case PsType::kTimeSpan:
      if (auto v = scalars::parseTimeSpan(raw)) return PsValue::signedInt(type, *v);
      return bad();
    case PsType::kNil:
    case PsType::kObject: break;
  }
  return bad();
}

PsValue ClixmlReader::Impl::readValue(pugi::xml_node node, int depth) {
  if (depth > kMaxDepth) {
    fail(node, ClixmlErrc::kStructure,
         "values nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  Classified c = classify(node.name());
  switch (c.element) {
    case Element::kPrimitive: return readPrimitive(node, c.type);
    case Element::kNil: return PsValue();
    case Element::kObj: return PsValue::object(readObject(node, depth));
    case Element::kRef: return PsValue::object(resolveRef(node, depth));
    default:
      fail(node, ClixmlErrc::kStructure, describeElement(node) + " is not a CLIXML value element");
  }
}

std::shared_ptr<const PsObject> ClixmlReader::Impl::resolveRef(pugi::xml_node node, int depth) {
  std::string id = node.attribute("RefId").value();
  if (objects_in_progress.count(id)) {
    fail(node, ClixmlErrc::kStructure,
         "<Ref RefId=\"" + id +
             "\"> refers to an object that contains it; cyclic references "
             "are not supported");
  }
  auto it = objects.find(id);
  if (it == objects.end()) {
    fail(node, ClixmlErrc::kStructure, "<Ref RefId=\"" + id + "\"> refers to no earlier <Obj>");
  }
  if (auto live = it->second.live.lock()) return live;
  return reparse(it->second.offset, node, depth);
}

std::shared_ptr<const PsObject> ClixmlReader::Impl::reparse(std::size_t offset, pugi::xml_node ref,
                                                            int depth) {
  // This element parsed before, so it is well-formed; only the budget can stop it now.
  auto end = findElementEnd(text, offset);
  if (!end) fail(ref, ClixmlErrc::kStructure, end.error().message);
  std::size_t length = end.value() - offset;
  if (length > reparse_budget) {
    fail(ref, ClixmlErrc::kStructure,
         "too many <Ref>s to large objects that were already released; read this document "
         "with readClixml() to keep every object in memory");
  }
  reparse_budget -= length;
  pugi::xml_document copy;
  if (!copy.load_buffer(text.data() + offset, length, kParseOptions, pugi::encoding_utf8)) {
    fail(ref, ClixmlErrc::kSyntax, "a referenced object no longer parses");
  }
  const std::size_t saved_base = base_offset;
  base_offset = offset;
  ++reparsing;
  auto object = readObject(copy.document_element(), depth);
  --reparsing;
  base_offset = saved_base;
  return object;
}

PsTypeNames ClixmlReader::Impl::readTypeNames(pugi::xml_node node) {
  if (reparsing) {
    auto known = type_names.find(node.attribute("RefId").value());
    if (known != type_names.end()) return known->second;
  }
  auto names = std::make_shared<std::vector<std::string>>();
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    if (std::strcmp(child.name(), "T") != 0) {
      fail(child, ClixmlErrc::kStructure, describeElement(child) + " inside <TN>; expected <T>");
    }
    names->push_back(escape::decode(textOf(child)));
  }
  if (auto id = node.attribute("RefId")) {
    if (!type_names.emplace(id.value(), names).second) {
      fail(node, ClixmlErrc::kStructure,
           "<TN RefId=\"" + std::string(id.value()) + "\"> is defined twice");
    }
  }
  return names;
}

// Element children of a node: the exact size for vectors that would otherwise regrow.
std::size_t countElements(pugi::xml_node node) {
  std::size_t n = 0;
  for (pugi::xml_node child = node.first_child(); child; child = child.next_sibling()) {
    n += child.type() == pugi::node_element;
  }
  return n;
}

void ClixmlReader::Impl::readProperties(pugi::xml_node node, std::vector<PsProperty>& out,
                                        int depth) {
  out.reserve(out.size() + countElements(node));
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    pugi::xml_attribute name = child.attribute("N");
    if (!name) {
      fail(child, ClixmlErrc::kStructure,
           describeElement(child) + " inside " + describeElement(node) +
               " has no N (name) attribute");
    }
    out.push_back(PsProperty{escape::decode(name.value()), readValue(child, depth + 1)});
  }
}

void ClixmlReader::Impl::readItems(pugi::xml_node node, std::vector<PsValue>& out, int depth) {
  out.reserve(out.size() + countElements(node));
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_element) out.push_back(readValue(child, depth + 1));
  }
}

void ClixmlReader::Impl::readDictionary(pugi::xml_node node, std::vector<PsDictionaryEntry>& out,
                                        int depth) {
  for (pugi::xml_node entry : node.children()) {
    if (entry.type() != pugi::node_element) continue;
    if (std::strcmp(entry.name(), "En") != 0) {
      fail(entry, ClixmlErrc::kStructure, describeElement(entry) + " inside <DCT>; expected <En>");
    }
    std::optional<PsValue> key, value;
    for (pugi::xml_node part : entry.children()) {
      if (part.type() != pugi::node_element) continue;
      std::string_view role = part.attribute("N").value();
      auto& slot = role == "Key" ? key : role == "Value" ? value : key;
      if ((role != "Key" && role != "Value") || slot) {
        fail(part, ClixmlErrc::kStructure,
             "a dictionary entry holds one N=\"Key\" and one N=\"Value\"; found " +
                 describeElement(part) + " with N=\"" + std::string(role) + "\"");
      }
      slot = readValue(part, depth + 1);
    }
    if (!key || !value) {
      fail(entry, ClixmlErrc::kStructure, "a dictionary entry without its Key or Value");
    }
    out.push_back(PsDictionaryEntry{std::move(*key), std::move(*value)});
  }
}

std::shared_ptr<const PsObject> ClixmlReader::Impl::readObject(pugi::xml_node node, int depth) {
  std::string ref_id = node.attribute("RefId").value();
  if (!ref_id.empty()) {
    auto known = objects.find(ref_id);
    if (known != objects.end()) {
      if (!reparsing)
        fail(node, ClixmlErrc::kStructure, "<Obj RefId=\"" + ref_id + "\"> is defined twice");
      if (auto live = known->second.live.lock()) return live;  // parsing again: same object
    }
    if (!objects_in_progress.insert(ref_id).second) {
      fail(node, ClixmlErrc::kStructure, "<Obj RefId=\"" + ref_id + "\"> is defined twice");
    }
  }
  // Its own allocation (not make_shared), so a weak entry in `objects` pins no memory.
  std::shared_ptr<PsObject> object(new PsObject());
  auto once = [&](bool already, pugi::xml_node child) {
    if (already)
      fail(child, ClixmlErrc::kStructure, describeElement(child) + " twice in one <Obj>");
  };
  auto set_container = [&](PsContainer kind, pugi::xml_node child) {
    once(object->container != PsContainer::kNone, child);
    object->container = kind;
  };
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) {
      if ((child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) &&
          !isBlank(child.value())) {
        fail(node, ClixmlErrc::kStructure, "text directly inside <Obj>");
      }
      continue;
    }
    Classified c = classify(child.name());
    switch (c.element) {
      case Element::kTN:
        once(object->type_names != nullptr, child);
        object->type_names = readTypeNames(child);
        break;
      case Element::kTNRef: {
        once(object->type_names != nullptr, child);
        auto it = type_names.find(child.attribute("RefId").value());
        if (it == type_names.end()) {
          fail(child, ClixmlErrc::kStructure,
               "<TNRef RefId=\"" + std::string(child.attribute("RefId").value()) +
                   "\"> refers to no earlier <TN>");
        }
        object->type_names = it->second;
        break;
      }
      case Element::kToString:
        once(object->to_string.has_value(), child);
        object->to_string = escape::decode(textOf(child));
        break;
      case Element::kProps: readProperties(child, object->adapted, depth); break;
      case Element::kMS: readProperties(child, object->extended, depth); break;
      case Element::kLST:
        set_container(PsContainer::kList, child);
        readItems(child, object->items, depth);
        break;
      case Element::kIE:
        set_container(PsContainer::kEnumerable, child);
        readItems(child, object->items, depth);
        break;
      case Element::kSTK:
        set_container(PsContainer::kStack, child);
        readItems(child, object->items, depth);
        break;
      case Element::kQUE:
        set_container(PsContainer::kQueue, child);
        readItems(child, object->items, depth);
        break;
      case Element::kDCT:
        set_container(PsContainer::kDictionary, child);
        readDictionary(child, object->entries, depth);
        break;
      case Element::kPrimitive:
      case Element::kNil:
        once(object->base_value.has_value(), child);
        object->base_value = readValue(child, depth + 1);
        break;
      default:
        fail(child, ClixmlErrc::kStructure,
             describeElement(child) + " is not allowed inside <Obj>");
    }
  }
  if (!ref_id.empty()) {
    objects_in_progress.erase(ref_id);
    objects.insert_or_assign(std::move(ref_id),
                             ObjectEntry{object, base_offset + nodeOffset(node)});
  }
  return object;
}

ClixmlReader::ClixmlReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClixmlReader::ClixmlReader(ClixmlReader&&) noexcept = default;
ClixmlReader& ClixmlReader::operator=(ClixmlReader&&) noexcept = default;
ClixmlReader::~ClixmlReader() = default;

Result<ClixmlReader, ClixmlError> ClixmlReader::fromBytes(std::string bytes) {
  auto utf8 = text::decodeToUtf8(std::move(bytes));
  if (!utf8) return ClixmlError{ClixmlErrc::kEncoding, utf8.error().message};
  return ClixmlReader(std::make_unique<Impl>(std::move(utf8).value()));
}

std::size_t ClixmlReader::position() const { return impl_->scanner.position(); }
std::size_t ClixmlReader::size() const { return impl_->text.size(); }

Result<std::optional<PsValue>, ClixmlError> ClixmlReader::next() {
  Impl& s = *impl_;
  if (s.failure) return *s.failure;
  auto span = s.scanner.next();
  if (!span) {
    s.failure = span.error();
    return *s.failure;
  }
  if (!span.value()) return std::optional<PsValue>();
  const ValueSpan value_span = *span.value();
  const std::size_t length = value_span.end - value_span.begin;
  // pugixml parses in place in a buffer we reuse, rather than copying into a fresh one.
  s.value_buffer.assign(s.text, value_span.begin, length);
  pugi::xml_parse_result parsed = s.document.load_buffer_inplace(
      s.value_buffer.data(), s.value_buffer.size(), kParseOptions, pugi::encoding_utf8);
  if (!parsed) {
    auto at =
        value_span.begin + static_cast<std::size_t>(std::max<std::ptrdiff_t>(parsed.offset, 0));
    s.failure = ClixmlError{ClixmlErrc::kSyntax,
                            describePosition(s.text, at) + ": " + parsed.description()};
    return *s.failure;
  }
  try {
    s.base_offset = value_span.begin;
    PsValue value = s.readValue(s.document.document_element(), 0);
    s.document.reset();
    return std::optional<PsValue>(std::move(value));
  } catch (const Failure& f) {
    s.failure = ClixmlError{f.code, describePosition(s.text, f.offset) + ": " + f.message};
    return *s.failure;
  }
}

Result<std::vector<PsValue>, ClixmlError> readClixml(std::string bytes) {
  auto reader = ClixmlReader::fromBytes(std::move(bytes));
  if (!reader) return reader.error();
  std::vector<PsValue> values;
  while (true) {
    auto value = reader->next();
    if (!value) return value.error();
    if (!value.value()) return values;
    values.push_back(std::move(*value.value()));
  }
}

}  // namespace easgate::powershell
