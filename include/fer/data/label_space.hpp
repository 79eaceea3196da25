#pragma once
// Which class each label index means. Numbered class folders (0, 1, ...) carry no names, and the datasets disagree
// on the order (FER2013: 0 angry ... 6 neutral; AffectNet: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear,
// 5 disgust, 6 anger, 7 contempt; FER+: 0 neutral, 1 happiness, ...), so the user names the label space:
//   --label_space fer2013 | affectnet | ferplus | custom:a,b,c
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/fer2013.hpp"
#include "fer/data/image_folder.hpp"

namespace fer::data {

struct LabelSpace {
  std::string name;                  // fer2013, affectnet, ferplus or custom
  std::vector<std::string> classes;  // in label-index order
};

inline LabelSpace parse_label_space(const std::string& spec) {
  if (spec == "fer2013") return {spec, fer2013_class_names()};
  if (spec == "affectnet") return {spec, affectnet_class_names()};
  if (spec == "ferplus") return {spec, ferplus_class_names()};
  if (spec.rfind("custom:", 0) == 0) {
    LabelSpace ls{"custom", {}};
    std::string rest = spec.substr(7);
    size_t start = 0;
    while (start <= rest.size()) {
      size_t comma = rest.find(',', start);
      std::string name = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      FER_CHECK(!name.empty(), "--label_space '", spec, "': empty class name");
      for (const auto& earlier : ls.classes)
        FER_CHECK(folder_detail::canonical_class(earlier) != folder_detail::canonical_class(name), "--label_space '",
                  spec, "': class '", name, "' appears twice");
      ls.classes.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    FER_CHECK(ls.classes.size() >= 2, "--label_space '", spec, "': a label space needs at least 2 classes");
    return ls;
  }
  fail("--label_space '", spec, "': expected fer2013, affectnet, ferplus or custom:a,b,... (class names in label order)");
}

// "0 neutral, 1 happy, ..." for messages.
inline std::string describe_classes(const std::vector<std::string>& classes) {
  std::string s;
  for (size_t i = 0; i < classes.size(); ++i) s += (i ? ", " : "") + std::to_string(i) + " " + classes[i];
  return s;
}

}  // namespace fer::data
