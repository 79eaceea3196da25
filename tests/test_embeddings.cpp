// The embedding analysis against scikit-learn 1.2 / SciPy / PyTorch references (tools/make_embedding_fixtures.py ->
// tests/data/embeddings/reference.json; tools/make_gradcam_fixtures.py -> tests/data/gradcam/maps.json):
//  - penultimate features (input of the last Linear) equal PyTorch's forward pre-hook, rel-L2 <= 1e-4;
//  - PCA: explained variance and ratio (rel 1e-9), projections up to each component's sign (abs 1e-9);
//  - t-SNE's joint probabilities equal sklearn's _joint_probabilities (rel-L2 <= 1e-6);
//  - trustworthiness equals sklearn.manifold.trustworthiness on sklearn's own embeddings (1e-12);
//  - fer's t-SNE embedding's trustworthiness within 0.02 of sklearn's TSNE's (exact and Barnes-Hut);
//  - Frechet distance equals the scipy.linalg.sqrtm formula (rel 1e-8);
//  - the linear probe's folds give sklearn LogisticRegression's accuracies and decision values (rel-L2 <= 1e-6).
#include <doctest/doctest.h>

#include <chrono>

#include "det_weights.hpp"
#include "fer/analysis/domain_gap.hpp"
#include "fer/analysis/embeddings.hpp"
#include "fer/analysis/pca.hpp"
#include "fer/analysis/trustworthiness.hpp"
#include "fer/analysis/tsne.hpp"
#include "fixture_json.hpp"
#include "models/registry.hpp"

using namespace fer;
using analysis::Matrix;
using fer::testing::rel_l2;

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json j = fer::testing::load_json_fixture("embeddings/reference.json");
  return j;
}

Matrix features() {
  const auto& j = reference();
  auto shape = j["shape"].get<std::vector<int64_t>>();
  Matrix m(shape[0], shape[1]);
  m.values = j["X"].get<std::vector<double>>();
  REQUIRE(int64_t(m.values.size()) == shape[0] * shape[1]);
  return m;
}

Matrix embedding(const std::string& key, int64_t n) {
  Matrix m(n, 2);
  m.values = reference()[key].get<std::vector<double>>();
  REQUIRE(int64_t(m.values.size()) == 2 * n);
  return m;
}

std::vector<int> domains() { return reference()["domains"].get<std::vector<int>>(); }

}  // namespace

TEST_CASE("penultimate features equal PyTorch's input of the last Linear") {
  auto fixtures = fer::testing::load_json_fixture("gradcam/maps.json");
  for (const auto& [name, rec] : fixtures.items()) {
    CAPTURE(name);
    int64_t size = rec["input_size"].get<int64_t>();
    auto model = models::make_model(name, 7, size);
    fer::testing::fill_det_weights(*model);
    model->eval();
    auto f = analysis::extract_features(*model, fer::testing::det_input(size));
    auto shape = rec["penultimate_shape"].get<std::vector<int64_t>>();
    CHECK(f.features.size(0) == shape[0]);
    CHECK(f.features.size(1) == shape[1]);
    double e = rel_l2(f.features.to_vector(), rec["penultimate"].get<std::vector<double>>());
    MESSAGE(name, " penultimate (", analysis::penultimate_layer(*model), ", ", shape[1], " features): rel-L2 ", e);
    CHECK(e <= 1e-4);
    CHECK(rel_l2(f.logits.to_vector(), rec["logits"].get<std::vector<double>>()) <= 1e-4);
    CHECK_FALSE(model->module_at(analysis::penultimate_layer(*model)).has_forward_hook());
  }
  CHECK(analysis::penultimate_layer(*models::make_model("resnet18", 7, 64)) == "fc");
  CHECK(analysis::penultimate_layer(*models::make_model("resnet18", 7, 64, default_generator(), 32)) == "hidden_head.2");
}

TEST_CASE("PCA equals scikit-learn's PCA up to the sign of each component") {
  Matrix x = features();
  auto pca = analysis::fit_pca(x, 5);
  const auto& ref = reference()["pca"];
  auto var = ref["explained_variance"].get<std::vector<double>>(), ratio = ref["explained_variance_ratio"].get<std::vector<double>>();
  auto proj = ref["projections"].get<std::vector<double>>();
  Matrix got = pca.transform(x);
  for (int64_t c = 0; c < 5; ++c) {
    CAPTURE(c);
    CHECK(pca.explained_variance[size_t(c)] == doctest::Approx(var[size_t(c)]).epsilon(1e-9));
    CHECK(pca.explained_variance_ratio[size_t(c)] == doctest::Approx(ratio[size_t(c)]).epsilon(1e-9));
    double sign = got(0, c) * proj[size_t(c)] < 0 ? -1.0 : 1.0, worst = 0;
    for (int64_t i = 0; i < x.rows; ++i) worst = std::max(worst, std::abs(sign * got(i, c) - proj[size_t(i * 5 + c)]));
    CHECK(worst <= 1e-9);
    // fer's convention: the largest-magnitude loading of each component is positive.
    double big = 0;
    for (int64_t j = 0; j < x.cols; ++j)
      if (std::abs(pca.components(c, j)) > std::abs(big)) big = pca.components(c, j);
    CHECK(big > 0);
  }
  CHECK_THROWS_WITH_AS(analysis::fit_pca(x, 17), doctest::Contains("17 components"), Error);
}

TEST_CASE("t-SNE joint probabilities equal scikit-learn's") {
  Matrix sub = features().select_rows([] {
    std::vector<int64_t> v(60);
    for (int64_t i = 0; i < 60; ++i) v[size_t(i)] = i;
    return v;
  }());
  std::vector<double> p = analysis::tsne_joint_probabilities(sub, 30.0), condensed;
  for (int64_t i = 0; i < 60; ++i)
    for (int64_t j = i + 1; j < 60; ++j) condensed.push_back(p[size_t(i * 60 + j)]);
  double e = rel_l2(condensed, reference()["joint_p60"].get<std::vector<double>>());
  MESSAGE("joint P rel-L2 ", e);
  CHECK(e <= 1e-6);
}

TEST_CASE("trustworthiness equals scikit-learn's") {
  Matrix x = features();
  const auto& t = reference()["trust"];
  for (const char* method : {"exact", "barnes_hut"}) {
    Matrix y = embedding(std::string("tsne_") + method, x.rows);
    for (int64_t k : {5, 10}) {
      std::string key = std::string("tsne_") + method + "_k" + std::to_string(k);
      CAPTURE(key);
      CHECK(analysis::trustworthiness(x, y, k) == doctest::Approx(t[key].get<double>()).epsilon(1e-12));
    }
  }
  Matrix pca2 = analysis::fit_pca(x, 2).transform(x);  // sign flips do not change distances
  CHECK(analysis::trustworthiness(x, pca2, 5) == doctest::Approx(t["pca2_k5"].get<double>()).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(analysis::trustworthiness(x, pca2, 140), doctest::Contains("n_neighbors"), Error);
}

TEST_CASE("fer's t-SNE is as trustworthy as scikit-learn's TSNE (within 0.02)") {
  Matrix x = features();
  auto start = std::chrono::steady_clock::now();
  Matrix y = analysis::tsne(x);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& t = reference()["trust"];
  for (int64_t k : {5, 10}) {
    double mine = analysis::trustworthiness(x, y, k);
    for (const char* method : {"exact", "barnes_hut"}) {
      double theirs = t[std::string("tsne_") + method + "_k" + std::to_string(k)].get<double>();
      MESSAGE("trustworthiness k=", k, ": fer ", mine, ", sklearn ", std::string(method), " ", theirs, " (fer t-SNE ", seconds, " s)");
      CHECK(std::abs(mine - theirs) <= 0.02);
    }
  }
  // Seeded random initialization: the same seed gives the same embedding, and it is as good.
  analysis::TsneOptions o;
  o.pca_init = false, o.seed = 7;
  Matrix a = analysis::tsne(x, o), b = analysis::tsne(x, o);
  CHECK(a.values == b.values);
  CHECK(std::abs(analysis::trustworthiness(x, a, 5) - t["tsne_exact_k5"].get<double>()) <= 0.02);
}

TEST_CASE("Frechet distance equals the scipy.linalg.sqrtm formula") {
  Matrix x = features();
  std::vector<int> d = domains();
  std::vector<int64_t> real, synthetic;
  for (size_t i = 0; i < d.size(); ++i) (d[i] == 0 ? real : synthetic).push_back(int64_t(i));
  double fd = analysis::frechet_distance(x.select_rows(real), x.select_rows(synthetic));
  MESSAGE("Frechet distance ", fd, " (scipy ", reference()["frechet"].get<double>(), ")");
  CHECK(fd == doctest::Approx(reference()["frechet"].get<double>()).epsilon(1e-8));
  CHECK(std::abs(analysis::frechet_distance(x.select_rows(real), x.select_rows(real))) <= 1e-9);
}

TEST_CASE("linear probe equals scikit-learn's LogisticRegression on the same folds") {
  Matrix x = features();
  std::vector<int> d = domains();
  auto probe = analysis::linear_probe(x, d, 5);
  auto want = reference()["probe_fold_accuracy"].get<std::vector<double>>();
  REQUIRE(probe.fold_accuracy.size() == want.size());
  for (size_t f = 0; f < want.size(); ++f) CHECK(probe.fold_accuracy[f] == doctest::Approx(want[f]).epsilon(1e-12));
  MESSAGE("probe accuracy ", probe.accuracy, " (chance ", probe.chance, ")");
  CHECK(probe.chance == doctest::Approx(0.5));
  // Fold 0's decision values, fitted as linear_probe does.
  std::vector<int> fold = analysis::stratified_folds(d, 5);
  std::vector<int64_t> train, test;
  std::vector<int> y_train;
  for (int64_t i = 0; i < x.rows; ++i) {
    if (fold[size_t(i)] == 0) test.push_back(i);
    else train.push_back(i), y_train.push_back(d[size_t(i)]);
  }
  auto s = analysis::Standardizer::fit(x.select_rows(train));
  auto lr = analysis::LogisticRegression::fit(s.apply(x.select_rows(train)), y_train);
  double e = rel_l2(lr.decision(s.apply(x.select_rows(test))), reference()["probe_decision_fold0"].get<std::vector<double>>());
  MESSAGE("probe decision values rel-L2 ", e);
  CHECK(e <= 1e-6);
  CHECK_THROWS_WITH_AS(analysis::linear_probe(x, std::vector<int>(size_t(x.rows), 0), 5), doctest::Contains("at least 5"), Error);
}
