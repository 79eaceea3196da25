#pragma once
// Ensembles of trained models evaluated on the same images: the mean of the members' probabilities (soft voting)
// and the majority vote of their argmax predictions (hard voting), each member's and the ensemble's metrics, and a
// paired bootstrap of the ensemble's macro-F1 gain over its best member.
//
// Majority-vote ties (as many votes for two or more classes) go to the tied class with the highest mean
// probability, then to the lowest class index. Members must hold the same samples in the same order with the same
// labels (checked by sample id and label); anything else is an error naming the member and the first mismatch.
//
// A CLI builds one MemberPredictions per run (ids, labels and probabilities from its predictions) and calls
// evaluate_ensemble(members).to_json().
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/metrics/classification.hpp"
#include "fer/sweep/statistics.hpp"

namespace fer::analysis {

struct MemberPredictions {
  std::string name;              // e.g. the run directory
  std::vector<std::string> ids;  // sample ids (may be empty: then only the labels are compared)
  std::vector<int32_t> labels;   // [N]
  std::vector<double> probs;     // [N, num_classes] row-major
  int64_t num_classes = 0;
};

struct EnsembleOptions {
  int64_t bootstrap_resamples = 1000;
  uint64_t seed = 0;
};

struct EnsembleReport {
  std::vector<std::string> member_names;
  std::vector<metrics::ClassificationReport> members;
  metrics::ClassificationReport mean;  // soft voting
  std::vector<double> mean_probs;      // [N, C]
  std::vector<int32_t> vote;           // hard voting predictions [N]
  metrics::ClassificationReport vote_report;  // on one-hot rows of the vote: accuracy, F1, confusion are the vote's
  int64_t vote_ties = 0;                      // samples whose vote was tied
  int64_t best_member = 0;                    // highest macro F1 (first on ties)
  sweep::PairedDifference gain;               // macro F1 of the mean minus the best member's, paired bootstrap CI

  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const {
    nlohmann::json j;
    j["members"] = nlohmann::json::array();
    for (size_t m = 0; m < members.size(); ++m)
      j["members"].push_back({{"name", member_names[m]}, {"metrics", members[m].to_json(class_names)}});
    j["mean_probability"] = mean.to_json(class_names);
    j["majority_vote"] = {{"accuracy", vote_report.accuracy},
                          {"macro_f1", vote_report.macro_f1},
                          {"balanced_accuracy", vote_report.balanced_accuracy},
                          {"f1", vote_report.f1},
                          {"confusion_matrix", vote_report.confusion},
                          {"tied_samples", vote_ties},
                          {"tie_rule", "highest mean probability among the tied classes, then the lowest index"}};
    j["best_member"] = member_names[size_t(best_member)];
    j["macro_f1_gain_over_best_member"] = {{"difference", gain.difference}, {"ci95_low", gain.ci_low},
                                           {"ci95_high", gain.ci_high},      {"p_value", gain.p_value},
                                           {"resamples", gain.resamples},    {"significant", gain.significant()}};
    return j;
  }
};

// Checks that all members describe the same samples; returns N.
inline int64_t check_members(const std::vector<MemberPredictions>& members) {
  FER_CHECK(members.size() >= 2, "ensemble: needs at least 2 members, got ", members.size());
  const MemberPredictions& a = members[0];
  const int64_t n = int64_t(a.labels.size()), c = a.num_classes;
  FER_CHECK(n >= 1 && c >= 2, "ensemble: member '", a.name, "' has ", n, " samples and ", c, " classes");
  for (const MemberPredictions& m : members) {
    FER_CHECK(m.num_classes == c, "ensemble: member '", m.name, "' has ", m.num_classes, " classes, '", a.name, "' has ", c);
    FER_CHECK(int64_t(m.labels.size()) == n, "ensemble: member '", m.name, "' has ", m.labels.size(), " samples, '", a.name,
              "' has ", n);
    FER_CHECK(int64_t(m.probs.size()) == n * c, "ensemble: member '", m.name, "' has ", m.probs.size(),
              " probabilities for ", n, " samples x ", c, " classes");
    FER_CHECK(m.ids.size() == a.ids.size(), "ensemble: member '", m.name, "' has ", m.ids.size(), " sample ids, '", a.name,
              "' has ", a.ids.size());
    for (size_t i = 0; i < m.probs.size(); ++i)
      FER_CHECK(std::isfinite(m.probs[i]), "ensemble: member '", m.name, "' has a non-finite probability at sample ",
                int64_t(i) / c, " class ", int64_t(i) % c);
    for (int64_t i = 0; i < n; ++i) {
      FER_CHECK(m.ids.empty() || m.ids[size_t(i)] == a.ids[size_t(i)], "ensemble: sample ", i, " is '", m.ids[size_t(i)],
                "' in member '", m.name, "' but '", a.ids[size_t(i)], "' in '", a.name,
                "' (members must be evaluated on the same samples in the same order)");
      FER_CHECK(m.labels[size_t(i)] == a.labels[size_t(i)], "ensemble: sample ", i, " has label ", m.labels[size_t(i)],
                " in member '", m.name, "' but ", a.labels[size_t(i)], " in '", a.name, "'");
    }
  }
  return n;
}

// Mean of the members' probabilities, summed in member order then divided by the member count.
inline std::vector<double> mean_probabilities(const std::vector<MemberPredictions>& members) {
  check_members(members);
  std::vector<double> mean(members[0].probs.size(), 0.0);
  for (const MemberPredictions& m : members)
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += m.probs[i];
  for (double& v : mean) v /= double(members.size());
  return mean;
}

// Hard voting with the documented tie rule; `ties` counts samples whose vote was tied.
inline std::vector<int32_t> majority_vote(const std::vector<MemberPredictions>& members, const std::vector<double>& mean,
                                          int64_t* ties = nullptr) {
  const int64_t n = check_members(members), c = members[0].num_classes;
  FER_CHECK(int64_t(mean.size()) == n * c, "ensemble: ", mean.size(), " mean probabilities for ", n, " x ", c);
  std::vector<int32_t> out(static_cast<size_t>(n));
  std::vector<int64_t> votes(static_cast<size_t>(c));
  if (ties) *ties = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::fill(votes.begin(), votes.end(), 0);
    for (const MemberPredictions& m : members) ++votes[size_t(metrics::argmax_row(m.probs.data() + i * c, c))];
    int64_t most = *std::max_element(votes.begin(), votes.end()), tied = 0, best = -1;
    for (int64_t k = 0; k < c; ++k) {
      if (votes[size_t(k)] != most) continue;
      ++tied;
      if (best < 0 || mean[size_t(i * c + k)] > mean[size_t(i * c + best)]) best = k;
    }
    if (ties && tied > 1) ++*ties;
    out[size_t(i)] = int32_t(best);
  }
  return out;
}

inline EnsembleReport evaluate_ensemble(const std::vector<MemberPredictions>& members, const EnsembleOptions& o = {}) {
  const int64_t n = check_members(members), c = members[0].num_classes;
  const std::vector<int32_t>& y = members[0].labels;
  EnsembleReport r;
  std::vector<std::vector<int32_t>> member_preds;
  for (const MemberPredictions& m : members) {
    r.member_names.push_back(m.name);
    r.members.push_back(metrics::classification_report(m.probs, y, c));
    std::vector<int32_t> pred(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pred[size_t(i)] = metrics::argmax_row(m.probs.data() + i * c, c);
    member_preds.push_back(std::move(pred));
  }
  for (size_t m = 1; m < r.members.size(); ++m)
    if (r.members[m].macro_f1 > r.members[size_t(r.best_member)].macro_f1) r.best_member = int64_t(m);
  r.mean_probs = mean_probabilities(members);
  r.mean = metrics::classification_report(r.mean_probs, y, c);
  r.vote = majority_vote(members, r.mean_probs, &r.vote_ties);
  std::vector<double> one_hot(size_t(n * c), 0.0);
  for (int64_t i = 0; i < n; ++i) one_hot[size_t(i * c + r.vote[size_t(i)])] = 1.0;
  r.vote_report = metrics::classification_report(one_hot, y, c, {1});
  std::vector<int32_t> mean_pred(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mean_pred[size_t(i)] = metrics::argmax_row(r.mean_probs.data() + i * c, c);
  r.gain = sweep::paired_bootstrap_f1(y, mean_pred, member_preds[size_t(r.best_member)], int(c), o.bootstrap_resamples, o.seed);
  return r;
}

}  // namespace fer::analysis
