// A tiny JSON writer for the --json outputs of torfs commands.
//
// Always produces valid JSON text (RFC 8259): strings are escaped (quotes, backslash, control
// characters) and any byte sequence that is not valid UTF-8 becomes U+FFFD, so raw bytes from a
// torrent (file names, comments) can be written as they are. Misuse (a value where a key is
// needed, unbalanced end_*) is a programming error and asserts. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace torfs::tools {

class JsonWriter {
 public:
  // indent = 0: compact, one line. Otherwise pretty-printed with `indent` spaces per level.
  explicit JsonWriter(int indent = 0) : indent_(indent) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The key of the next value; only inside an object.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(std::int64_t n);
  JsonWriter& value(std::uint64_t n);
  JsonWriter& value(int n) { return value(static_cast<std::int64_t>(n)); }
  JsonWriter& value(unsigned n) { return value(static_cast<std::uint64_t>(n)); }
  JsonWriter& value(double d);  // non-finite values are written as null
  JsonWriter& value(bool b);
  JsonWriter& null();

  // key(k).value(v) in one call.
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    return key(k).value(v);
  }

  // The text so far; complete once every begin_* has its end_*.
  const std::string& str() const { return out_; }
  bool complete() const { return stack_.empty() && !out_.empty(); }

 private:
  struct Level {
    bool object;
    bool empty = true;
    bool after_key = false;
  };
  void before_value();
  void newline();
  JsonWriter& close(bool object, char c);

  std::string out_;
  std::vector<Level> stack_;
  int indent_;
};

// s as a JSON string literal, quotes included (see the class comment for the escaping rules).
std::string json_quote(std::string_view s);
// Appends json_quote(s) to out.
void json_quote_to(std::string_view s, std::string& out);

}  // namespace torfs::tools
