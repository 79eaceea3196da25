#pragma once
// Errors: every failure is a fer::Error whose message names what was wrong (and the file, where there is one).
#include <sstream>
#include <stdexcept>
#include <string>

namespace fer {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  throw Error(s.str());
}

}  // namespace fer

// Checks a precondition; the remaining arguments are streamed into the message.
#define FER_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::fer::fail(__VA_ARGS__);   \
  } while (0)
