// The parts of fer::Error messages that every FER_CHECK shares (fer/core/error.hpp).
#include "fer/core/error.hpp"

namespace fer::detail {

void ErrorMessage::raise() const { throw Error(text_); }
void ErrorMessage::add_text(std::string_view s) { text_.append(s.data(), s.size()); }
void ErrorMessage::add_char(char c) { text_.push_back(c); }
void ErrorMessage::add_signed(long long v) { text_ += std::to_string(v); }
void ErrorMessage::add_unsigned(unsigned long long v) { text_ += std::to_string(v); }
void ErrorMessage::add_double(double v) {
  std::ostringstream s;
  s << v;
  text_ += s.str();
}

}  // namespace fer::detail
