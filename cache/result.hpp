// Result<T>: a value or an Error that says what went wrong and where.
// Used at every I/O and parsing boundary instead of exceptions (exceptions never cross
// FUSE or Asio callbacks). C++20 has no std::expected; this is the small subset we need.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace torfs {

struct Error {
  std::error_code code;  // machine-readable cause (std::errc or an errno)
  std::string message;   // human-readable: names what is wrong and where (file, byte offset, ...)
};

inline Error make_error(std::errc code, std::string message) {
  return Error{std::make_error_code(code), std::move(message)};
}
inline Error make_errno_error(int err, std::string message) {
  return Error{std::error_code(err, std::generic_category()), std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return assert(ok()), std::get<0>(v_); }
  const T& value() const& { return assert(ok()), std::get<0>(v_); }
  T&& value() && { return assert(ok()), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return assert(!ok()), std::get<1>(v_); }
  Error&& take_error() && { return assert(!ok()), std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return assert(!ok_), error_; }
  Error&& take_error() && { return assert(!ok_), std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace torfs
