// TOML-subset parser for the config file (see config_toml.hpp). A single forward pass over the
// text with a cursor; no recursion (arrays hold scalars only), so it is bounded by the input.
#include "tools/config_toml.hpp"

#include <cstdint>
#include <optional>

namespace torfs::tools {
namespace {

constexpr std::size_t kMaxArrayItems = 4096;

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view file) : s_(text), file_(file) {}

  Result<ConfigDocument> run() {
    if (s_.size() > kMaxConfigBytes) {
      return make_error(std::errc::file_too_large, std::string(file_) + ": larger than " +
                                                       std::to_string(kMaxConfigBytes) +
                                                       " bytes; not a config file");
    }
    while (!at_end()) {
      skip_blank();
      if (at_end()) break;
      const char c = peek();
      if (c == '\n') {
        next_line();
      } else if (c == '#') {
        skip_comment();
      } else if (c == '[') {
        if (!section()) return error_;
      } else {
        if (!key_value()) return error_;
      }
    }
    return std::move(doc_);
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void next_line() {
    ++pos_;
    ++line_;
  }
  void skip_blank() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r'))
      ++pos_;
  }
  void skip_comment() {
    while (!at_end() && peek() != '\n')
      ++pos_;
  }

  bool fail(const std::string& message) {
    error_ = make_error(std::errc::invalid_argument,
                        std::string(file_) + ":" + std::to_string(line_) + ": " + message);
    return false;
  }

  // After a header or a value: blanks, an optional comment, then the end of the line.
  bool end_of_line() {
    skip_blank();
    if (!at_end() && peek() == '#') skip_comment();
    if (at_end()) return true;
    if (peek() != '\n') return fail(std::string("unexpected '") + peek() + "' after the value");
    next_line();
    return true;
  }

  std::optional<std::string> key(const char* what) {
    skip_blank();
    if (!at_end() && (peek() == '"' || peek() == '\'')) {
      ConfigValue v;
      if (!string_value(v)) return std::nullopt;
      skip_blank();
      if (v.text.empty()) {
        fail(std::string("empty ") + what);
        return std::nullopt;
      }
      return v.text;
    }
    const std::size_t start = pos_;
    while (!at_end() && is_bare_key_char(peek()))
      ++pos_;
    if (pos_ == start) {
      fail(at_end() || peek() == '\n'
               ? std::string("missing ") + what
               : std::string("unexpected '") + peek() + "' where a " + what + " should be");
      return std::nullopt;
    }
    std::string k(s_.substr(start, pos_ - start));
    skip_blank();
    if (!at_end() && peek() == '.') {
      fail("dotted " + std::string(what) + " '" + k + ".' is not supported (use [section])");
      return std::nullopt;
    }
    return k;
  }

  bool section() {
    const int header_line = line_;
    ++pos_;  // '['
    if (!at_end() && peek() == '[') return fail("arrays of tables ([[...]]) are not supported");
    auto name = key("section name");
    if (!name) return false;
    if (at_end() || peek() != ']') return fail("expected ']' after section name '" + *name + "'");
    ++pos_;
    for (std::size_t i = 0; i < doc_.sections.size(); ++i) {
      if (doc_.sections[i] == *name) {
        return fail("section [" + *name + "] appears twice (first on line " +
                    std::to_string(doc_.section_lines[i]) + ")");
      }
    }
    section_ = *name;
    doc_.sections.push_back(*name);
    doc_.section_lines.push_back(header_line);
    return end_of_line();
  }

  bool key_value() {
    ConfigEntry entry;
    entry.line = line_;
    entry.section = section_;
    auto k = key("key");
    if (!k) return false;
    entry.key = *k;
    skip_blank();
    if (at_end() || peek() != '=') return fail("expected '=' after key '" + entry.key + "'");
    ++pos_;
    skip_blank();
    for (const auto& e : doc_.entries) {
      if (e.section == entry.section && e.key == entry.key) {
        return fail("key '" + entry.key + "' is set twice (first on line " +
                    std::to_string(e.line) + ")");
      }
    }
    if (!at_end() && peek() == '[') {
      entry.is_array = true;
      if (!array(entry.values)) return false;
    } else {
      ConfigValue v;
      if (!scalar(v, entry.key)) return false;
      entry.values.push_back(std::move(v));
    }
    doc_.entries.push_back(std::move(entry));
    return end_of_line();
  }

  // Blanks, newlines and comments inside an array.
  void skip_array_space() {
    for (;;) {
      skip_blank();
      if (at_end()) return;
      if (peek() == '\n') {
        next_line();
      } else if (peek() == '#') {
        skip_comment();
      } else {
        return;
      }
    }
  }

  bool array(std::vector<ConfigValue>& out) {
    const int start_line = line_;
    ++pos_;  // '['
    for (;;) {
      skip_array_space();
      if (at_end()) {
        return fail("array opened on line " + std::to_string(start_line) + " is never closed");
      }
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      if (peek() == '[') return fail("nested arrays are not supported");
      if (out.size() >= kMaxArrayItems) {
        return fail("array has more than " + std::to_string(kMaxArrayItems) + " items");
      }
      ConfigValue v;
      if (!scalar(v, "array item")) return false;
      out.push_back(std::move(v));
      skip_array_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
      } else if (!at_end() && peek() != ']') {
        return fail(std::string("expected ',' or ']' in array, found '") + peek() + "'");
      }
    }
  }

  bool scalar(ConfigValue& v, const std::string& what) {
    if (at_end() || peek() == '\n' || peek() == '#') return fail("missing value for " + what);
    const char c = peek();
    if (c == '"' || c == '\'') return string_value(v);
    if (c == '{') return fail("inline tables ({...}) are not supported");
    const std::size_t start = pos_;
    while (!at_end() && peek() != ',' && peek() != ']' && peek() != '#' && peek() != '\n' &&
           peek() != ' ' && peek() != '\t' && peek() != '\r')
      ++pos_;
    const std::string_view word = s_.substr(start, pos_ - start);
    if (word == "true" || word == "false") {
      v.kind = ConfigValue::Kind::boolean;
      v.text = std::string(word);
      return true;
    }
    return number(word, v, what);
  }

  // Decimal integers and floats, with `_` between digits; no hex/octal/inf/nan, no dates.
  bool number(std::string_view word, ConfigValue& v, const std::string& what) {
    std::string text;
    bool digits = false, dot = false, exp = false, prev_digit = false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      const char c = word[i];
      const bool sign_ok = i == 0 || word[i - 1] == 'e' || word[i - 1] == 'E';
      if (c >= '0' && c <= '9') {
        digits = prev_digit = true;
      } else if (c == '_' && prev_digit && i + 1 < word.size() && word[i + 1] >= '0' &&
                 word[i + 1] <= '9') {
        prev_digit = false;
        continue;
      } else if ((c == '+' || c == '-') && sign_ok) {
        prev_digit = false;
      } else if (c == '.' && !dot && !exp && prev_digit) {
        dot = true;
        prev_digit = false;
      } else if ((c == 'e' || c == 'E') && !exp && prev_digit) {
        exp = true;
        prev_digit = false;
      } else {
        return fail("invalid value '" + std::string(word) + "' for " + what +
                    " (strings need quotes)");
      }
      text += c;
    }
    if (!digits || !prev_digit) {
      return fail("invalid value '" + std::string(word) + "' for " + what +
                  " (strings need quotes)");
    }
    v.kind = dot || exp ? ConfigValue::Kind::floating : ConfigValue::Kind::integer;
    v.text = std::move(text);
    return true;
  }

  bool string_value(ConfigValue& v) {
    const char quote = peek();
    if (s_.substr(pos_, 3) == std::string(3, quote)) {
      return fail("multi-line strings are not supported");
    }
    ++pos_;
    v.kind = ConfigValue::Kind::string;
    for (;;) {
      if (at_end() || peek() == '\n') return fail("string is not closed on its line");
      const char c = peek();
      ++pos_;
      if (c == quote) return true;
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        return fail("control character in a string");
      }
      if (c != '\\' || quote == '\'') {
        v.text += c;
        continue;
      }
      if (!escape(v.text)) return false;
    }
  }

  bool escape(std::string& out) {
    if (at_end()) return fail("string is not closed on its line");
    const char e = peek();
    ++pos_;
    switch (e) {
      case 'b':
        out += '\b';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'r':
        out += '\r';
        return true;
      case '"':
        out += '"';
        return true;
      case '\\':
        out += '\\';
        return true;
      case 'u':
      case 'U': {
        const std::size_t n = e == 'u' ? 4 : 8;
        std::uint32_t cp = 0;
        for (std::size_t i = 0; i < n; ++i, ++pos_) {
          if (at_end()) return fail("short \\" + std::string(1, e) + " escape");
          const char h = peek();
          const int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0) return fail("invalid hex digit in \\" + std::string(1, e) + " escape");
          cp = cp * 16 + static_cast<std::uint32_t>(d);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return fail("escape is not a Unicode scalar value");
        }
        append_utf8(out, cp);
        return true;
      }
      default:
        return fail(std::string("unknown escape '\\") + e + "'");
    }
  }

  std::string_view s_;
  std::string_view file_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::string section_;
  ConfigDocument doc_;
  Error error_;
};

}  // namespace

Result<ConfigDocument> parse_config_toml(std::string_view text, std::string_view file) {
  return Parser(text, file).run();
}

}  // namespace torfs::tools
