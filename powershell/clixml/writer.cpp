#include "powershell/clixml/writer.h"

#include "powershell/clixml/escape.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell {
namespace {

constexpr const char* kHeader =
    "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">";

const char* containerElement(PsContainer kind) {
  switch (kind) {
    case PsContainer::kList: return "LST";
    case PsContainer::kEnumerable: return "IE";
    case PsContainer::kStack: return "STK";
    case PsContainer::kQueue: return "QUE";
    case PsContainer::kDictionary: return "DCT";
    case PsContainer::kNone: break;
  }
  return nullptr;
}

}  // namespace

ClixmlWriter::ClixmlWriter() : ClixmlWriter(Options{}) {}

ClixmlWriter::ClixmlWriter(Options options) : options_(options) { out_ = kHeader; }

void ClixmlWriter::newline(int depth) {
  if (!options_.indent) return;
  out_.push_back('\n');
  out_.append(static_cast<std::size_t>(depth) * 2, ' ');
}

void ClixmlWriter::open(const char* element, const std::string* name, int depth) {
  newline(depth);
  out_.push_back('<');
  out_.append(element);
  if (name) {
    out_.append(" N=\"");
    escape::appendEncoded(out_, *name, true);
    out_.push_back('"');
  }
}

void ClixmlWriter::write(const PsValue& value) {
  writeValue(value, nullptr, 1);
  objects_.clear();
}

std::string ClixmlWriter::takeOutput() {
  std::string taken;
  taken.swap(out_);
  return taken;
}

std::string ClixmlWriter::finish() {
  newline(0);
  out_.append("</Objs>");
  if (options_.indent) out_.push_back('\n');
  return takeOutput();
}

void ClixmlWriter::writeValue(const PsValue& value, const std::string* name, int depth) {
  const PsType type = value.type();
  if (type == PsType::kNil) {
    open("Nil", name, depth);
    out_.append(" />");
    return;
  }
  if (type == PsType::kObject) {
    writeObject(*value.asObject(), name, depth);
    return;
  }
  const std::string element(elementName(type));
  open(element.c_str(), name, depth);
  out_.push_back('>');
  switch (type) {
    case PsType::kString:
    case PsType::kUri:
    case PsType::kXmlDocument:
    case PsType::kScriptBlock: escape::appendEncoded(out_, *value.asText(), false); break;
    case PsType::kSecureString:
    case PsType::kDecimal:
    case PsType::kGuid:
    case PsType::kVersion:
      out_.append(*value.asText());  // base64 or digits: nothing to escape
      break;
    case PsType::kBool: out_.append(*value.asBool() ? "true" : "false"); break;
    case PsType::kDateTime: out_.append(scalars::formatDateTime(*value.asDateTime())); break;
    case PsType::kTimeSpan: out_.append(scalars::formatTimeSpan(*value.asSigned())); break;
    case PsType::kSingle: out_.append(scalars::formatSingle(*value.asReal())); break;
    case PsType::kDouble: out_.append(scalars::formatDouble(*value.asReal())); break;
    case PsType::kByteArray: out_.append(scalars::formatBase64(*value.asBytes())); break;
    default:
      if (auto v = value.asSigned()) out_.append(std::to_string(*v));
      if (auto v = value.asUnsigned()) out_.append(std::to_string(*v));
      break;
  }
  out_.append("</");
  out_.append(element);
  out_.push_back('>');
}

void ClixmlWriter::writeProperties(const char* element, const std::vector<PsProperty>& properties,
                                   int depth) {
  if (properties.empty()) return;
  open(element, nullptr, depth);
  out_.push_back('>');
  for (const auto& p : properties) writeValue(p.value, &p.name, depth + 1);
  newline(depth);
  out_.append("</").append(element).append(">");
}

void ClixmlWriter::writeObject(const PsObject& object, const std::string* name, int depth) {
  auto seen = objects_.find(&object);
  if (seen != objects_.end()) {
    open("Ref", name, depth);
    out_.append(" RefId=\"").append(std::to_string(seen->second)).append("\" />");
    return;
  }
  const int id = next_object_id_++;
  objects_.emplace(&object, id);
  open("Obj", name, depth);
  out_.append(" RefId=\"").append(std::to_string(id)).append("\">");

  if (object.type_names) {
    auto known = type_names_.find(object.type_names.get());
    if (known != type_names_.end()) {
      newline(depth + 1);
      out_.append("<TNRef RefId=\"").append(std::to_string(known->second.first)).append("\" />");
    } else {
      const int tn_id = next_type_names_id_++;
      type_names_.emplace(object.type_names.get(), std::make_pair(tn_id, object.type_names));
      newline(depth + 1);
      out_.append("<TN RefId=\"").append(std::to_string(tn_id)).append("\">");
      for (const auto& t : *object.type_names) {
        newline(depth + 2);
        out_.append("<T>");
        escape::appendEncoded(out_, t, false);
        out_.append("</T>");
      }
      newline(depth + 1);
      out_.append("</TN>");
    }
  }
  if (object.to_string) {
    newline(depth + 1);
    out_.append("<ToString>");
    escape::appendEncoded(out_, *object.to_string, false);
    out_.append("</ToString>");
  }
  if (object.base_value) writeValue(*object.base_value, nullptr, depth + 1);
  if (const char* container = containerElement(object.container)) {
    open(container, nullptr, depth + 1);
    out_.push_back('>');
    if (object.container == PsContainer::kDictionary) {
      static const std::string kKey = "Key", kValue = "Value";
      for (const auto& entry : object.entries) {
        newline(depth + 2);
        out_.append("<En>");
        writeValue(entry.key, &kKey, depth + 3);
        writeValue(entry.value, &kValue, depth + 3);
        newline(depth + 2);
        out_.append("</En>");
      }
    } else {
      for (const auto& item : object.items) writeValue(item, nullptr, depth + 2);
    }
    newline(depth + 1);
    out_.append("</").append(container).append(">");
  }
  writeProperties("Props", object.adapted, depth + 1);
  writeProperties("MS", object.extended, depth + 1);
  newline(depth);
  out_.append("</Obj>");
}

std::string writeClixml(const std::vector<PsValue>& values, ClixmlWriter::Options options) {
  ClixmlWriter writer(options);
  for (const auto& v : values) writer.write(v);
  return writer.finish();
}

}  // namespace easgate::powershell
