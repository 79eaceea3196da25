#pragma once
// The whole framework: #include <fer/fer.hpp>
#include "fer/core/dtype.hpp"
#include "fer/core/device.hpp"
#include "fer/core/parallel.hpp"
#include "fer/core/rng.hpp"
#include "fer/core/tensor.hpp"
#include "fer/autograd/grad_mode.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/elementwise.hpp"
