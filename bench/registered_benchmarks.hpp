// The end of a bench program that reports Google Benchmark rows: runs the rows the program registered (as
// BENCHMARK_MAIN does). The bench programs share one translation unit (bench/CMakeLists.txt), so rows are registered
// by a call in the program's own program_main, never at static initialization, where every program would run them.
#pragma once

#include <benchmark/benchmark.h>

inline int run_registered_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
