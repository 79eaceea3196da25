#pragma once
// Emotion groups: "positive=happy,surprise;negative=angry,disgust,fear,sad;neutral=neutral" maps every class to
// exactly one group; a sample's group probability is the sum of its classes' probabilities (added in class-index
// order), its group label the group of its class, and the grouped metrics are classification_report's (accuracy,
// F1, AUROC, confusion matrix, all as scikit-learn defines them) on those.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/metrics/classification.hpp"

namespace fer::metrics {

struct EmotionGroups {
  std::vector<std::string> names;             // in the order of the specification
  std::vector<std::vector<int32_t>> members;  // per group, class indices ascending
  std::vector<int32_t> group_of;              // per class
  int64_t size() const { return int64_t(names.size()); }
};

namespace groups_detail {

std::string trim(const std::string& s);

std::string lower(std::string s);

std::vector<std::string> split(const std::string& s, char sep);

std::string join(const std::vector<std::string>& v);

}  // namespace groups_detail

// Parses "group=class,class;group=class,...". Class names match case-insensitively; every class must be in exactly
// one group. Errors name the unknown, repeated or missing classes.
EmotionGroups parse_emotion_groups(const std::string& spec, const std::vector<std::string>& class_names);

// [N, G] group probabilities from [N, C] class probabilities.
std::vector<double> group_probabilities(std::span<const double> probs, int64_t num_classes, const EmotionGroups& g);

std::vector<int32_t> group_labels(std::span<const int32_t> labels, const EmotionGroups& g);

// The grouped evaluation: accuracy, per-group and macro F1, one-vs-rest AUROC, confusion matrix over the groups.
ClassificationReport grouped_report(std::span<const double> probs, std::span<const int32_t> labels,
                                    int64_t num_classes, const EmotionGroups& g);

}  // namespace fer::metrics
