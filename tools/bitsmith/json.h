// A minimal JSON writer for --json output: objects, arrays, strings, numbers.
// Floats are written as the shortest text that reads back to the same value;
// NaN and infinities (not JSON) are written as null.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace bitsmith::cli {

class Json {
 public:
  Json& begin_object() { return open('{'); }
  Json& end_object() { return close('}'); }
  Json& begin_array() { return open('['); }
  Json& end_array() { return close(']'); }
  Json& key(const std::string& k) {
    comma();
    quote(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  Json& value(const std::string& s) {
    comma();
    quote(s);
    return *this;
  }
  Json& value(const char* s) { return value(std::string(s)); }
  Json& value(bool b) { return raw(b ? "true" : "false"); }
  Json& value(int64_t v) { return raw(std::to_string(v)); }
  Json& value(int v) { return value(static_cast<int64_t>(v)); }
  Json& value(size_t v) { return value(static_cast<int64_t>(v)); }
  template <class F>
  Json& number(F v) {
    if (!std::isfinite(v)) return null();
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string(buf, r.ptr));
  }
  Json& null() { return raw("null"); }
  const std::string& str() const { return out_; }

 private:
  Json& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  Json& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  Json& raw(const std::string& s) {
    comma();
    out_ += s;
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void quote(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (c < 0x20) {
            static const char* hex = "0123456789abcdef";
            out_ += "\\u00";
            out_ += hex[c >> 4];
            out_ += hex[c & 15];
          } else {
            out_ += static_cast<char>(c);
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace bitsmith::cli
