#pragma once
// Errors a caller can act on. Expected outcomes (a diverged candidate, an invalid
// architecture met during a search) are data, not exceptions; these are for bad input.

#include <sstream>
#include <stdexcept>
#include <string>

namespace ghnas {

/// Base of every error ghnas throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad options or flags: unknown names, values out of range.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// An architecture that is malformed or not a member of its space.
class ArchError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or does not have the expected format.
class FileError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace ghnas

/// Throws ghnas::Error (or the given subclass via GHNAS_CHECK_AS) when `cond` is false.
#define GHNAS_CHECK(cond, ...) \
  do { if (!(cond)) throw ::ghnas::Error(::ghnas::detail::str_cat(__VA_ARGS__)); } while (0)
#define GHNAS_CHECK_AS(type, cond, ...) \
  do { if (!(cond)) throw type(::ghnas::detail::str_cat(__VA_ARGS__)); } while (0)
