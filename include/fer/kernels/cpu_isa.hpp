#pragma once
// Kernel contract: which instruction set the hot CPU kernels (today the f32 GEMM) run on. The library carries the
// same kernels compiled twice (kernels/cpu/isa/, -march=x86-64-v3 and -march=x86-64-v4) and picks one at start-up,
// defined by kernels/cpu/cpu_isa.cpp:
//   - the environment variable FER_CPU_ISA = generic | avx2 | avx512 | auto (unset means auto), read at first use;
//   - auto: AVX2 where the CPU has AVX2+FMA; where it also has AVX-512 (F, BW, DQ, VL), a short timing of both paths
//     decides, and AVX-512 is taken only when it is clearly faster (on some CPUs it is not);
//   - generic: the Eigen products built for the library's -march (the path before runtime dispatch).
// AVX-512 code never runs on a CPU without it: asking for it there throws.
#include <string>
#include <string_view>

namespace fer::kernels {

enum class CpuIsa { generic, avx2, avx512 };

// "generic", "avx2", "avx512".
const char* cpu_isa_name(CpuIsa isa);
// True when this CPU can run `isa` (and this build contains its kernels).
bool cpu_isa_supported(CpuIsa isa);
// The ISA the kernels run on now (chooses on first call, see above; throws if FER_CPU_ISA names an ISA that is
// unknown or unsupported here).
CpuIsa cpu_isa();
// Why the current choice was made (forced by the API or FER_CPU_ISA, CPU features, timings of the auto choice).
std::string cpu_isa_reason();
// Forces an ISA for the whole process; throws (and keeps the current choice) when the CPU lacks it.
void set_cpu_isa(CpuIsa isa);
// The same by name, as FER_CPU_ISA takes it: "generic", "avx2", "avx512" or "auto" (choose again as at start-up).
void set_cpu_isa(std::string_view name);

}  // namespace fer::kernels
