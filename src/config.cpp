#include <torchlr/config.h>

#include <charconv>
#include <cmath>

namespace torchlr {
namespace {

void append_string(std::string& out, const std::string& text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_double(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  // A float that prints as an integer keeps a decimal point, as JSON writers do.
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  out += text;
}

}  // namespace

std::string ConfigValue::dump() const {
  std::string out;
  if (is_null()) {
    out = "null";
  } else if (is_bool()) {
    out = as_bool() ? "true" : "false";
  } else if (is_integer()) {
    out = std::to_string(as_integer());
  } else if (is_float()) {
    append_double(out, std::get<double>(value_));
  } else if (is_string()) {
    append_string(out, as_string());
  } else if (is_list()) {
    out = "[";
    const List& list = as_list();
    for (std::size_t i = 0; i < list.size(); ++i) out += (i ? "," : "") + list[i].dump();
    out += "]";
  } else {
    out = as_config().dump();
  }
  return out;
}

std::string Config::dump() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : entries_) {
    if (!first) out += ",";
    first = false;
    append_string(out, key);
    out += ":" + value.dump();
  }
  return out + "}";
}

}  // namespace torchlr
