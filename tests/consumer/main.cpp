// Out-of-tree consumer: includes the umbrella header of an installed fer, builds a tiny graph, checks a gradient.
#include <fer/fer.hpp>

#include <cmath>
#include <cstdio>

int main() {
  using namespace fer;
  Tensor x = Tensor::from_vector<float>({-1.f, 0.5f, 2.f}, {3});
  x.set_requires_grad(true);
  Tensor loss = sum(square(relu(x)));  // d/dx = 2 * relu(x) * [x > 0]
  backward(loss);
  const double expected[3] = {0.0, 1.0, 4.0};
  for (int i = 0; i < 3; ++i) {
    if (std::abs(x.grad().flat(i) - expected[i]) > 1e-6) {
      std::printf("fer_consumer: wrong gradient at %d: %g\n", i, x.grad().flat(i));
      return 1;
    }
  }
  std::printf("fer_consumer: ok (loss %.3f)\n", loss.item());
  return 0;
}
