#pragma once
#include <stdexcept>
#include <string>

namespace fer {

enum class DeviceKind : uint8_t { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceKind::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceKind::cuda, i}; }
  constexpr bool is_cpu() const { return kind == DeviceKind::cpu; }
  constexpr bool is_cuda() const { return kind == DeviceKind::cuda; }
  friend constexpr bool operator==(Device a, Device b) { return a.kind == b.kind && a.index == b.index; }
  std::string str() const;  // "cpu", "cuda:0"
};

// "cpu", "cuda" (device 0) or "cuda:N", as on PyTorch's command lines.
inline Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos && s.size() < 9)
    return Device::cuda(std::stoi(s.substr(5)));
  throw std::invalid_argument("device '" + s + "': expected cpu, cuda or cuda:N");
}

}  // namespace fer
