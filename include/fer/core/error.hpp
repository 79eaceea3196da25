#pragma once
// Errors: every failure is a fer::Error whose message names what was wrong (and the file, where there is one).
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace fer {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

// An error message built part by part. Text, integers and floating-point values go through a handful of functions
// compiled once (kernels/cpu/core/error.cpp) that every FER_CHECK shares (rather than an ostringstream per argument
// list), so the many checks of the framework's headers cost little code; other types are streamed.
class ErrorMessage {
 public:
  template <class T>
  void add(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      add_text(v ? "1" : "0");
    } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char>) {
      add_char(char(v));
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      add_signed((long long)v);
    } else if constexpr (std::is_integral_v<T>) {
      add_unsigned((unsigned long long)v);
    } else if constexpr (std::is_floating_point_v<T>) {
      add_double(double(v));
    } else if constexpr (std::is_array_v<T>) {
      add_text(std::string_view(v));
    } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
      add_text(v ? std::string_view(v) : std::string_view("(null)"));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      add_text(std::string_view(v));
    } else {
      std::ostringstream s;
      s << v;
      add_text(s.str());
    }
  }
  [[noreturn]] void raise() const;

 private:
  void add_text(std::string_view s);
  void add_char(char c);
  void add_signed(long long v);
  void add_unsigned(unsigned long long v);
  void add_double(double v);  // six significant digits, as an ostream prints a double by default
  std::string text_;
};

}  // namespace detail

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  detail::ErrorMessage m;
  (m.add(parts), ...);
  m.raise();
}

}  // namespace fer

// Checks a precondition; the remaining arguments are streamed into the message.
#define FER_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::fer::fail(__VA_ARGS__);   \
  } while (0)
