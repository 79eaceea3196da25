#pragma once
// Shared by the paired A/B programs (bench_fold_bn, bench_bn_relu): the command line, medians, the machine's load and
// the process's peak memory. Both sides of a comparison run alternately in each round, the order flipping every
// round, so that a machine shared with other work shifts both alike; the median of per-round ratios is reported.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace fer::bench {

struct PairedArgs {
  int rounds = 5;
  long batch = 0, size = 64;
  std::vector<std::string> models;
};

// [--rounds R] [--batch N] [--size S] [model ...]; exits 2 with a message naming `program` on bad input.
inline PairedArgs parse_paired_args(int argc, char** argv, const char* program, long default_batch,
                                    std::vector<std::string> default_models) {
  PairedArgs a;
  a.batch = default_batch;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> long {
      char* end = nullptr;
      long v = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 >= argc || *end != '\0') {
        std::fprintf(stderr, "%s: %s needs an integer value\n", program, arg.c_str());
        std::exit(2);
      }
      ++i;
      return v;
    };
    if (arg == "--rounds") a.rounds = int(value());
    else if (arg == "--batch") a.batch = value();
    else if (arg == "--size") a.size = value();
    else a.models.push_back(arg);
  }
  if (a.rounds < 1 || a.batch < 2 || a.size < 32) {
    std::fprintf(stderr, "%s: need --rounds >= 1, --batch >= 2, --size >= 32\n", program);
    std::exit(2);
  }
  if (a.models.empty()) a.models = std::move(default_models);
  return a;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

// Peak resident memory of this process so far (getrusage), MiB.
inline double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Runs `rounds` rounds of (a, b) in alternating order; a(), b() return seconds. Fills the per-round times.
template <class A, class B>
void paired_rounds(int rounds, A&& a, B&& b, std::vector<double>& ta, std::vector<double>& tb) {
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0) ta.push_back(a()), tb.push_back(b());
    else tb.push_back(b()), ta.push_back(a());
  }
}

}  // namespace fer::bench
