// NumPy's legacy RandomState(seed).randn() reproduced bit for bit (values printed by /usr/bin/python3 -c
// "import numpy as np; print(np.random.RandomState(seed).randn(5).tolist())").
#include <doctest/doctest.h>

#include "fer/core/numpy_random.hpp"

TEST_CASE("RandomState(seed).randn equals NumPy's") {
  struct Case {
    uint32_t seed;
    double v[5];
  } cases[] = {{0, {1.764052345967664, 0.4001572083672233, 0.9787379841057392, 2.240893199201458, 1.8675579901499675}},
               {42, {0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254, -0.23415337472333597}},
               {4294967295u, {0.6484086742306527, 0.6693235306338161, -1.0805437227474493, 0.2845010447986309, 0.11388773652167104}}};
  for (const Case& c : cases) {
    CAPTURE(c.seed);
    fer::NumpyRandomState rs(c.seed);
    for (double want : c.v) CHECK(rs.randn() == want);  // exact: same integer stream, same arithmetic
  }
}
