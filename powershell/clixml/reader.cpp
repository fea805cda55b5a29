// The CLIXML reader: DocumentScanner finds each top-level value, pugixml parses it, and
// ValueBuilder turns the XML into PsValues. pugixml types never leave this file.
#include "powershell/clixml/reader.h"

#include <cstring>
#include <deque>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <pugixml.hpp>

#include "common/text/ascii.h"
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
  // Every element of every value is classified: a name's first letter rules out most entries
  // before strcmp is called at all.
  for (const auto& e : kEntries) {
    if (name[0] == e.name[0] && std::strcmp(name + 1, e.name + 1) == 0) return {e.element, e.type};
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

// An object nextObjects() read without building it: its properties by name, text pointing into
// the value pugixml parsed (or into `owned` when it had to be decoded), other values built.
// Reused from one object to the next, so reading one allocates little.
class FlatObject final : public PropertyView {
 public:
  struct Property {
    std::string_view name;
    bool adapted = false;  // <Props> rather than <MS>
    bool is_text = false;  // an <S>, held in `text`; otherwise values[value]
    std::string_view text;
    std::size_t value = 0;
  };

  std::optional<std::string> display(std::string_view name) const override {
    const Property* p = find(name);
    if (!p) return std::nullopt;
    if (p->is_text) return std::string(p->text);
    return values[p->value].display();
  }

  std::optional<PsDateTime> dateTime(std::string_view name) const override {
    const Property* p = find(name);
    if (!p || p->is_text) return std::nullopt;
    return values[p->value].asDateTime();
  }

  std::vector<std::string> list(std::string_view name) const override {
    const Property* p = find(name);
    return itemTexts(p && !p->is_text ? &values[p->value] : nullptr);
  }

  void clear() {
    properties.clear();
    values.clear();
    owned.clear();
  }

  // Called once an object is read, before it is seen. Objects of one cmdlet's output have their
  // members named alike, in one order; what find() learnt of the last such object holds for
  // this one, and is forgotten when the names (or where they were, Props or MS) differ.
  void settle() {
    bool same = properties.size() == shape_.size();
    for (std::size_t i = 0; same && i < properties.size(); ++i) {
      same = properties[i].adapted == shape_[i].adapted && properties[i].name == shape_[i].name;
    }
    if (same) return;
    shape_.clear();
    for (const Property& p : properties) shape_.push_back({std::string(p.name), p.adapted});
    found_.clear();
    next_found_ = 0;
  }

  // Text that must outlive the parser's scratch or be decoded first: kept until clear().
  std::string_view keep(std::string text) { return owned.emplace_back(std::move(text)); }

  std::vector<Property> properties;
  std::vector<PsValue> values;

 private:
  // As PsObject::property finds one (adapted before extended), remembered by the name asked
  // for: a caller asks for the same names of each object, mostly in the same order, so the
  // answer is usually the next one remembered.
  const Property* find(std::string_view name) const {
    const std::size_t known = found_.size();
    for (std::size_t k = 0; k < known; ++k) {
      const std::size_t at = (next_found_ + k) % known;
      if (found_[at].name == name) {
        next_found_ = (at + 1) % known;
        return found_[at].index ? &properties[*found_[at].index] : nullptr;
      }
    }
    const Property* p = search(name);
    if (found_.size() < kMaxFound) {
      std::optional<std::size_t> index;
      if (p) index = static_cast<std::size_t>(p - properties.data());
      found_.push_back({std::string(name), index});
      next_found_ = 0;
    }
    return p;
  }

  const Property* search(std::string_view name) const {
    for (bool adapted : {true, false}) {
      for (const Property& p : properties) {
        if (p.adapted == adapted && text::equalsIgnoreAsciiCase(p.name, name)) return &p;
      }
    }
    return nullptr;
  }

  struct Shape {
    std::string name;
    bool adapted = false;
  };
  struct Found {
    std::string name;                  // as asked for
    std::optional<std::size_t> index;  // in `properties`; none: no such property
  };
  static constexpr std::size_t kMaxFound = 64;  // a caller asking for ever new names searches
  std::vector<Shape> shape_;                    // the members' names find() answered for
  mutable std::vector<Found> found_;
  mutable std::size_t next_found_ = 0;

  std::deque<std::string> owned;  // a deque: what it holds stays where it is as it grows
};

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
  // An <Obj>'s RefId is defined once and is not referred to from inside the object.
  void enterObject(pugi::xml_node node, const std::string& ref_id);
  void leaveObject(pugi::xml_node node, std::string ref_id, std::weak_ptr<const PsObject> live);
  // An <Obj>'s children into `object`, except the properties of <Props> and <MS>, which go to
  // `properties(child, adapted)`, and the items of a LST or IE, which go to `items(child)`.
  template <typename Properties, typename Items>
  void readMembers(pugi::xml_node node, int depth, PsObject& object, Properties&& properties,
                   Items&& items);
  // nextObjects(): every object in the value at `node`, as forEachObject() visits them.
  void readObjects(pugi::xml_node node, int depth, const ObjectFn& each);
  void readFlatObject(pugi::xml_node node, int depth, const ObjectFn& each);
  void readFlatProperties(pugi::xml_node node, bool adapted, int depth);
  // The top-level value after the one read last, parsed; nullopt at the document's end.
  Result<std::optional<pugi::xml_node>, ClixmlError> parseNext();
  // Runs `read` over a value parseNext() gave, turning a Failure into the reader's error.
  template <typename Read>
  auto readParsed(pugi::xml_node node, Read&& read) -> Result<decltype(read(node)), ClixmlError>;
  PsValue readPrimitive(pugi::xml_node node, PsType type);
  PsTypeNames readTypeNames(pugi::xml_node node);
  void readProperties(pugi::xml_node node, std::vector<PsProperty>& out, int depth);
  // Each property element of a <Props> or <MS> with its name (N), which it must have.
  template <typename F>
  void forEachProperty(pugi::xml_node node, F&& each);
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
  FlatObject flat;           // the object nextObjects() is reading
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
  forEachProperty(node, [&](pugi::xml_node child, std::string_view name) {
    out.push_back(PsProperty{escape::decode(name), readValue(child, depth + 1)});
  });
}

template <typename F>
void ClixmlReader::Impl::forEachProperty(pugi::xml_node node, F&& each) {
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    // N is a property element's only attribute: looked for by name when it is not the first.
    pugi::xml_attribute name = child.first_attribute();
    if (!name || name.name()[0] != 'N' || name.name()[1] != '\0') name = child.attribute("N");
    if (!name) {
      fail(child, ClixmlErrc::kStructure,
           describeElement(child) + " inside " + describeElement(node) +
               " has no N (name) attribute");
    }
    each(child, std::string_view(name.value()));
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

void ClixmlReader::Impl::enterObject(pugi::xml_node node, const std::string& ref_id) {
  if (ref_id.empty()) return;
  if ((!reparsing && objects.count(ref_id)) || !objects_in_progress.insert(ref_id).second) {
    fail(node, ClixmlErrc::kStructure, "<Obj RefId=\"" + ref_id + "\"> is defined twice");
  }
}

void ClixmlReader::Impl::leaveObject(pugi::xml_node node, std::string ref_id,
                                     std::weak_ptr<const PsObject> live) {
  if (ref_id.empty()) return;
  objects_in_progress.erase(ref_id);
  // An object nobody holds (one read by nextObjects() is never built) is parsed again from
  // here by a <Ref> to it.
  objects.insert_or_assign(std::move(ref_id),
                           ObjectEntry{std::move(live), base_offset + nodeOffset(node)});
}

template <typename Properties, typename Items>
void ClixmlReader::Impl::readMembers(pugi::xml_node node, int depth, PsObject& object,
                                     Properties&& properties, Items&& items) {
  auto once = [&](bool already, pugi::xml_node child) {
    if (already)
      fail(child, ClixmlErrc::kStructure, describeElement(child) + " twice in one <Obj>");
  };
  auto set_container = [&](PsContainer kind, pugi::xml_node child) {
    once(object.container != PsContainer::kNone, child);
    object.container = kind;
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
        once(object.type_names != nullptr, child);
        object.type_names = readTypeNames(child);
        break;
      case Element::kTNRef: {
        once(object.type_names != nullptr, child);
        auto it = type_names.find(child.attribute("RefId").value());
        if (it == type_names.end()) {
          fail(child, ClixmlErrc::kStructure,
               "<TNRef RefId=\"" + std::string(child.attribute("RefId").value()) +
                   "\"> refers to no earlier <TN>");
        }
        object.type_names = it->second;
        break;
      }
      case Element::kToString:
        once(object.to_string.has_value(), child);
        object.to_string = escape::decode(textOf(child));
        break;
      case Element::kProps: properties(child, /*adapted=*/true); break;
      case Element::kMS: properties(child, /*adapted=*/false); break;
      case Element::kLST:
        set_container(PsContainer::kList, child);
        items(child);
        break;
      case Element::kIE:
        set_container(PsContainer::kEnumerable, child);
        items(child);
        break;
      case Element::kSTK:
        set_container(PsContainer::kStack, child);
        readItems(child, object.items, depth);
        break;
      case Element::kQUE:
        set_container(PsContainer::kQueue, child);
        readItems(child, object.items, depth);
        break;
      case Element::kDCT:
        set_container(PsContainer::kDictionary, child);
        readDictionary(child, object.entries, depth);
        break;
      case Element::kPrimitive:
      case Element::kNil:
        once(object.base_value.has_value(), child);
        object.base_value = readValue(child, depth + 1);
        break;
      default:
        fail(child, ClixmlErrc::kStructure,
             describeElement(child) + " is not allowed inside <Obj>");
    }
  }
}

std::shared_ptr<const PsObject> ClixmlReader::Impl::readObject(pugi::xml_node node, int depth) {
  std::string ref_id = node.attribute("RefId").value();
  if (!ref_id.empty() && reparsing) {
    auto known = objects.find(ref_id);
    if (known != objects.end()) {
      if (auto live = known->second.live.lock()) return live;  // parsing again: same object
    }
  }
  enterObject(node, ref_id);
  // Its own allocation (not make_shared), so a weak entry in `objects` pins no memory.
  std::shared_ptr<PsObject> object(new PsObject());
  readMembers(
      node, depth, *object,
      [&](pugi::xml_node child, bool adapted) {
        readProperties(child, adapted ? object->adapted : object->extended, depth);
      },
      [&](pugi::xml_node child) { readItems(child, object->items, depth); });
  leaveObject(node, std::move(ref_id), object);
  return object;
}

// True when an <Obj> is a list (LST or IE) that forEachObject() would go into.
bool isListObject(pugi::xml_node node) {
  for (pugi::xml_node child = node.first_child(); child; child = child.next_sibling()) {
    if (child.type() != pugi::node_element) continue;
    Element e = classify(child.name()).element;
    if (e == Element::kLST || e == Element::kIE) return true;
  }
  return false;
}

void ClixmlReader::Impl::readObjects(pugi::xml_node node, int depth, const ObjectFn& each) {
  if (depth > kMaxDepth || classify(node.name()).element != Element::kObj) {
    // Checked and reported as next() does; an object a <Ref> names is built to be seen.
    PsValue value = readValue(node, depth);
    forEachObject(value, [&](const PsObject& object) { each(PsObjectView(object)); });
    return;
  }
  if (!isListObject(node)) {
    readFlatObject(node, depth, each);
    return;
  }
  std::string ref_id = node.attribute("RefId").value();
  enterObject(node, ref_id);
  PsObject list;  // its own properties, if any, are checked and dropped
  readMembers(
      node, depth, list,
      [&](pugi::xml_node child, bool adapted) {
        readProperties(child, adapted ? list.adapted : list.extended, depth);
      },
      [&](pugi::xml_node child) {
        for (pugi::xml_node item : child.children()) {
          if (item.type() == pugi::node_element) readObjects(item, depth + 1, each);
        }
      });
  leaveObject(node, std::move(ref_id), {});
}

void ClixmlReader::Impl::readFlatObject(pugi::xml_node node, int depth, const ObjectFn& each) {
  std::string ref_id = node.attribute("RefId").value();
  enterObject(node, ref_id);
  flat.clear();
  PsObject members;  // type names, ToString and the rest: checked, not kept
  readMembers(
      node, depth, members,
      [&](pugi::xml_node child, bool adapted) { readFlatProperties(child, adapted, depth); },
      [&](pugi::xml_node child) { readItems(child, members.items, depth); });
  leaveObject(node, std::move(ref_id), {});
  flat.settle();
  each(flat);
}

void ClixmlReader::Impl::readFlatProperties(pugi::xml_node node, bool adapted, int depth) {
  forEachProperty(node, [&](pugi::xml_node child, std::string_view raw_name) {
    FlatObject::Property p;
    p.adapted = adapted;
    p.name = raw_name.find('_') == std::string_view::npos ? raw_name
                                                          : flat.keep(escape::decode(raw_name));
    // Text, the most of what Exchange's objects hold, is pointed at where pugixml left it;
    // everything else is read as next() reads it.
    const char* element = child.name();
    if (depth + 1 <= kMaxDepth && element[0] == 'S' && element[1] == '\0') {
      std::string_view raw = textOf(child);
      p.is_text = true;
      if (raw.find('_') != std::string_view::npos) {
        p.text = flat.keep(escape::decode(raw));
      } else {
        p.text = raw.data() == scratch.data() ? flat.keep(std::string(raw)) : raw;
      }
    } else {
      p.value = flat.values.size();
      flat.values.push_back(readValue(child, depth + 1));
    }
    flat.properties.push_back(p);
  });
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

Result<std::optional<pugi::xml_node>, ClixmlError> ClixmlReader::Impl::parseNext() {
  if (failure) return *failure;
  auto span = scanner.next();
  if (!span) {
    failure = span.error();
    return *failure;
  }
  if (!span.value()) return std::optional<pugi::xml_node>();
  const ValueSpan value_span = *span.value();
  const std::size_t length = value_span.end - value_span.begin;
  // pugixml parses in place in a buffer we reuse, rather than copying into a fresh one.
  value_buffer.assign(text, value_span.begin, length);
  pugi::xml_parse_result parsed = document.load_buffer_inplace(
      value_buffer.data(), value_buffer.size(), kParseOptions, pugi::encoding_utf8);
  if (!parsed) {
    auto at =
        value_span.begin + static_cast<std::size_t>(std::max<std::ptrdiff_t>(parsed.offset, 0));
    failure =
        ClixmlError{ClixmlErrc::kSyntax, describePosition(text, at) + ": " + parsed.description()};
    return *failure;
  }
  base_offset = value_span.begin;
  return std::optional<pugi::xml_node>(document.document_element());
}

template <typename Read>
auto ClixmlReader::Impl::readParsed(pugi::xml_node node, Read&& read)
    -> Result<decltype(read(node)), ClixmlError> {
  try {
    auto value = read(node);
    document.reset();
    return value;
  } catch (const Failure& f) {
    document.reset();
    failure = ClixmlError{f.code, describePosition(text, f.offset) + ": " + f.message};
    return *failure;
  }
}

Result<std::optional<PsValue>, ClixmlError> ClixmlReader::next() {
  Impl& s = *impl_;
  auto node = s.parseNext();
  if (!node) return node.error();
  if (!node.value()) return std::optional<PsValue>();
  auto value = s.readParsed(*node.value(), [&](pugi::xml_node n) { return s.readValue(n, 0); });
  if (!value) return value.error();
  return std::optional<PsValue>(std::move(value).value());
}

Result<bool, ClixmlError> ClixmlReader::nextObjects(const ObjectFn& each) {
  Impl& s = *impl_;
  auto node = s.parseNext();
  if (!node) return node.error();
  if (!node.value()) return false;
  return s.readParsed(*node.value(), [&](pugi::xml_node n) {
    s.readObjects(n, 0, each);
    return true;
  });
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

Result<void, ClixmlError> readClixmlObjects(std::string bytes, const ClixmlReader::ObjectFn& each) {
  auto reader = ClixmlReader::fromBytes(std::move(bytes));
  if (!reader) return reader.error();
  while (true) {
    auto more = reader->nextObjects(each);
    if (!more) return more.error();
    if (!more.value()) return {};
  }
}

}  // namespace easgate::powershell
