// The StyleGAN2 generator against NVIDIA's own outputs (../shared/fixtures/stylegan2, made with NVIDIA's code):
// ws and images for truncation 1.0 and 0.7 (with and without cutoff), noise const and none, loaded from safetensors
// and from the network pickle. Tolerance rel-L2 <= 1e-4 in f32 (the bound).
#include <doctest/doctest.h>

#include <cmath>

#include "models/stylegan2.hpp"
#include "rel_l2.hpp"

using namespace fer;
using fer::testing::rel_l2;

namespace {

std::filesystem::path sg2_fixture_dir() {
  for (const char* rel : {"/../shared/fixtures/stylegan2", "/../../shared/fixtures/stylegan2"}) {
    std::filesystem::path p = std::string(FER_SOURCE_DIR) + rel;
    if (std::filesystem::exists(p / "G_small.safetensors")) return p;
  }
  return {};
}

struct Case {
  const char* name;
  double psi;
  int64_t cutoff;
  models::NoiseMode noise;
};
const Case kGeneratorCases[] = {{"psi1_const", 1.0, -1, models::NoiseMode::constant},
                       {"psi07_const", 0.7, -1, models::NoiseMode::constant},
                       {"psi07_cut4_const", 0.7, 4, models::NoiseMode::constant},
                       {"psi1_none", 1.0, -1, models::NoiseMode::none}};

void check_against_nvidia(const models::Stylegan2Generator& G, const io::SafetensorsFile& io) {
  Tensor z = io.load("z"), c = io.load("c");
  for (const Case& k : kGeneratorCases) {
    CAPTURE(k.name);
    Tensor ws = G.mapping(z, c, k.psi, k.cutoff);
    double ews = rel_l2(ws, io.load(std::string("ws_") + k.name));
    Tensor img = G.synthesis(ws, k.noise);
    Tensor want = io.load(std::string("img_") + k.name);  // NCHW
    double eimg = rel_l2(nhwc_to_nchw(img), want);
    MESSAGE(std::string(k.name), ": rel-L2 ws ", ews, ", image ", eimg);
    CHECK(ews <= 1e-4);
    CHECK(eimg <= 1e-4);
  }
}

}  // namespace

TEST_CASE("G_small from safetensors equals NVIDIA's ws and images") {
  auto dir = sg2_fixture_dir();
  if (dir.empty()) {
    MESSAGE("SKIPPED: ../shared/fixtures/stylegan2 not found");
    return;
  }
  auto G = models::Stylegan2Generator::load(dir / "G_small.safetensors");
  CHECK(G.config().c_dim == 7);
  CHECK(G.config().img_channels == 1);
  CHECK(G.config().conv_clamp == 256);
  CHECK(G.num_ws() == 8);
  check_against_nvidia(G, io::SafetensorsFile((dir / "G_small.io.safetensors").string()));
}

TEST_CASE("G_small from NVIDIA's network pickle equals NVIDIA's ws and images") {
  auto dir = sg2_fixture_dir();
  if (dir.empty()) {
    MESSAGE("SKIPPED: ../shared/fixtures/stylegan2 not found");
    return;
  }
  auto G = models::Stylegan2Generator::load(dir / "G_small.pkl");
  CHECK(G.config().architecture == "skip");
  CHECK(G.config().mapping_layers == 2);
  check_against_nvidia(G, io::SafetensorsFile((dir / "G_small.io.safetensors").string()));
}

TEST_CASE("generator input errors") {
  auto dir = sg2_fixture_dir();
  if (dir.empty()) return;
  auto G = models::Stylegan2Generator::load(dir / "G_small.safetensors");
  CHECK_THROWS_WITH_AS(G.mapping(Tensor::zeros({2, 10}), Tensor::zeros({2, 7})), doctest::Contains("z must be [N, 64]"), Error);
  CHECK_THROWS_WITH_AS(G.mapping(Tensor::zeros({2, 64}), Tensor()), doctest::Contains("c must be [2, 7]"), Error);
  CHECK_THROWS_WITH_AS(G.synthesis(Tensor::zeros({1, 3, 64})), doctest::Contains("ws must be"), Error);
  auto state = G.state();
  state.erase("synthesis.b8.conv0.affine.bias");
  CHECK_THROWS_WITH_AS(models::Stylegan2Generator(state, G.config()), doctest::Contains("missing synthesis.b8.conv0.affine.bias"), Error);
  CHECK_THROWS_WITH_AS(models::Stylegan2Generator::load("/nonexistent/G.pkl"), doctest::Contains("no such file"), Error);
}
