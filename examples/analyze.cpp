// analyze: the thesis's analyses of a trained run, one subcommand each, written into RUN/analysis/<name>/.
//   analyze gradcam --run runs/r18 --data_root fer2013.csv --split test [--layer layer4] [--method gradcampp]
//   analyze embed   --run runs/r18 --data_root fer2013.csv --split test --synthetic synth/ [--tsne_max 3000]
//   analyze crossdomain --run runs/r18 --synthetic synth/     # in-domain test vs a whole other source, side by side
//   analyze curves  --run runs/r18 [--groups "positive=happy,surprise;negative=..."]   # ROC/PR/AP, confidence
// --data_root defaults to the run's own data source (config.json), as do --max_classes and --ferplus.
// The run directory's config.json (fer/train/run_config.hpp) gives the model, classes, input size and
// normalization; the weights are RUN/checkpoints/best (or --checkpoint last). --split all takes every image of the
// source (train, val and test together), e.g. a whole synthetic folder. A new analysis is one add_* function below.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "fer/cli/program.hpp"
#include "fer/analysis/cam_images.hpp"
#include "fer/analysis/domain_gap.hpp"
#include "fer/analysis/embeddings.hpp"
#include "fer/analysis/gradcam.hpp"
#include "fer/analysis/pca.hpp"
#include "fer/analysis/trustworthiness.hpp"
#include "fer/analysis/tsne.hpp"
#include "fer/data/sources.hpp"
#include "fer/nn/load_weights.hpp"
#include "fer/nn/state_dict.hpp"
#include "fer/report/scatter_plot.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/run_eval.hpp"
#include "fer/data/subsets.hpp"
#include "fer/report/curves_plot.hpp"
#include "fer/report/tensorboard_summaries.hpp"
#include "fer/io/json_text.hpp"
#include "models/cam_layers.hpp"
#include "models/model_factory.hpp"

namespace analyze_program {

using namespace fer;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- what every subcommand shares

struct Common {
  std::string run, data_root, split = "test", ferplus, checkpoint = "best", name;
  int64_t batch_size = 64, limit = 0, max_classes = 0;
  uint64_t seed = 0;
};

void add_common(CLI::App* sub, Common& c) {
  sub->add_option("--run", c.run, "run directory (config.json, checkpoints/)")->required();
  sub->add_option("--data_root", c.data_root, "fashion-mnist, a FER2013 CSV, or an image-folder root (default: the run's)");
  sub->add_option("--split", c.split, "train, val, test or all (every image of the source)");
  sub->add_option("--ferplus", c.ferplus, "fer2013new.csv: FER+ labels");
  sub->add_option("--max_classes", c.max_classes, "keep classes 0..k-1 of the source (as the run was trained)");
  sub->add_option("--checkpoint", c.checkpoint, "best or last");
  sub->add_option("--batch_size", c.batch_size);
  sub->add_option("--limit", c.limit, "> 0: a seeded random subset of this many images per source");
  sub->add_option("--seed", c.seed, "for --limit and t-SNE's subsample");
  sub->add_option("--name", c.name, "output folder under RUN/analysis/ (default: <subcommand>_<split>)");
}

// Every image of a source's splits (train, val, test) as one set.
class ConcatImageSet : public data::ImageSet {
 public:
  explicit ConcatImageSet(std::vector<std::shared_ptr<data::ImageSet>> parts) {
    for (auto& p : parts)
      if (p && p->size() > 0) parts_.push_back(p);
    FER_CHECK(!parts_.empty(), "the source has no images");
    names_ = parts_[0]->class_names();
  }
  int64_t size() const override {
    int64_t n = 0;
    for (auto& p : parts_) n += p->size();
    return n;
  }
  int32_t label(int64_t i) const override {
    auto [set, k] = locate(i);
    return set->label(k);
  }
  std::string id(int64_t i) const override {
    auto [set, k] = locate(i);
    return set->id(k);
  }
  io::Image raw(int64_t i) const override {
    auto [set, k] = locate(i);
    return set->raw(k);
  }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  // The part holding sample i and its index there.
  std::pair<const data::ImageSet*, int64_t> locate(int64_t i) const {
    for (auto& p : parts_) {
      if (i < p->size()) return {p.get(), i};
      i -= p->size();
    }
    fail("ConcatImageSet: index out of range");
  }
  std::vector<std::shared_ptr<data::ImageSet>> parts_;
  std::vector<std::string> names_;
};

struct Run {
  train::RunConfig cfg;
  std::shared_ptr<nn::Layer> model;
  fs::path out;
};

Run load_run(const Common& c, const std::string& subcommand) {
  Run r;
  r.cfg = train::load_run_config(c.run);
  FER_CHECK(c.checkpoint == "best" || c.checkpoint == "last", "--checkpoint must be best or last, not '", c.checkpoint, "'");
  fs::path ck = train::verified_weights(fs::path(c.run) / "checkpoints" / c.checkpoint);
  r.model = train::make_run_model(r.cfg, models::zoo_factory());
  nn::load_weights(*r.model, ck.string());  // strict, as evaluate, predict and verify load
  r.model->eval();
  r.out = fs::path(c.run) / "analysis" / (c.name.empty() ? subcommand + "_" + c.split : c.name);
  fs::create_directories(r.out);
  std::printf("%s: %s (%lld classes, %lld px) from %s -> %s\n", subcommand.c_str(), r.cfg.model.c_str(),
              (long long)r.cfg.num_classes, (long long)r.cfg.input_size, ck.string().c_str(), r.out.string().c_str());
  return r;
}

// The chosen split of a real source (by default the run's own, as config.json records it), checked against the
// run's classes.
std::shared_ptr<data::ImageSet> load_split(Common& c, const train::RunConfig& cfg) {
  const std::string origin = train::run_config_path(c.run).string();
  const train::RunData rd = train::run_data(cfg, origin);
  data::DataOptions o;
  if (c.data_root.empty()) {  // the run's own splits, as it was trained and tested; given flags replace its values
    FER_CHECK(!rd.root.empty(), origin, ": no data.data_root recorded; give --data_root");
    c.data_root = rd.root;
    o = rd.options;
    if (c.max_classes != 0) o.max_classes = c.max_classes;
    if (!c.ferplus.empty()) o.ferplus_csv = c.ferplus;
  } else {  // another source: the run's validation carve (seed, fraction) still applies
    o.ferplus_csv = c.ferplus, o.max_classes = c.max_classes;
    o.seed = rd.options.seed, o.val_fraction = rd.options.val_fraction;
  }
  o.quiet = true;
  data::Splits s = data::load_splits(c.data_root, o);
  std::shared_ptr<data::ImageSet> set;
  if (c.split == "train") set = s.train;
  else if (c.split == "val") set = s.val;
  else if (c.split == "test") set = s.test;
  else if (c.split == "all") set = std::make_shared<ConcatImageSet>(std::vector{s.train, s.val, s.test});
  else fail("--split must be train, val, test or all, not '", c.split, "'");
  FER_CHECK(set && set->size() > 0, c.data_root, ": split '", c.split, "' is empty");
  FER_CHECK(set->num_classes() == cfg.num_classes, c.data_root, " has ", set->num_classes(), " classes but the run has ",
            cfg.num_classes, " (use --max_classes as the run was trained)");
  return set;
}

// A synthetic folder (<class>/*.png) in the run's label space: named class folders must be the run's classes;
// numbered ones (as generate writes them for a class-conditional generator) are the run's class indices.
std::shared_ptr<data::ImageSet> load_synthetic_domain(const std::string& dir, const train::RunConfig& cfg) {
  std::vector<std::string> notes;
  auto set = data::load_synthetic(dir, cfg.class_names, /*numbered_ok=*/true, &notes);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  return set;
}

// Indices 0..n-1, or a seeded random `limit` of them in increasing order.
std::vector<int64_t> pick(int64_t n, int64_t limit, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (limit <= 0 || limit >= n) return idx;
  Generator g(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[size_t(i)], idx[size_t(g.below(uint64_t(i + 1)))]);
  idx.resize(size_t(limit));
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::string safe_name(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  return s;
}

std::vector<double> softmax_row(const float* logits, int64_t c) {
  double m = *std::max_element(logits, logits + c), sum = 0;
  std::vector<double> p(static_cast<size_t>(c));
  for (int64_t k = 0; k < c; ++k) sum += p[size_t(k)] = std::exp(double(logits[k]) - m);
  for (double& v : p) v /= sum;
  return p;
}

// ---------------------------------------------------------------- gradcam

struct CamRecord {
  int64_t index;  // into the set
  int64_t label, prediction;
  double confidence;
  std::vector<double> unit_map;  // post-ReLU, scaled to [0, 1]
};

void run_gradcam(Common c, const std::string& layer_flag, const std::string& method, int64_t per_class) {
  FER_CHECK(method == "gradcam" || method == "gradcampp", "--method must be gradcam or gradcampp, not '", method, "'");
  Run r = load_run(c, "gradcam");
  auto set = load_split(c, r.cfg);
  const std::string layer = layer_flag.empty() ? models::default_cam_layer(r.cfg.model) : layer_flag;
  const bool plus_plus = method == "gradcampp";
  data::Preprocess pp = r.cfg.preprocess();
  std::vector<int64_t> idx = pick(set->size(), c.limit, c.seed);
  const auto& names = r.cfg.class_names;
  std::vector<CamRecord> recs;
  std::vector<double> raw_cam, raw_cam_pp;
  std::vector<int64_t> all_pred, all_labels;
  int64_t h = 0, w = 0;
  std::string csv = "index,file,class,label,prediction,predicted_class,confidence,correct,image\n";
  for (size_t lo = 0; lo < idx.size(); lo += size_t(c.batch_size)) {
    std::span<const int64_t> part(idx.data() + lo, std::min(idx.size(), lo + size_t(c.batch_size)) - lo);
    data::Batch b = data::make_batch(*set, part, pp, c.seed, 0);
    analysis::CamMaps maps = analysis::class_activation_maps(*r.model, layer, b.images);
    h = maps.height, w = maps.width;
    raw_cam.insert(raw_cam.end(), maps.gradcam.begin(), maps.gradcam.end());
    raw_cam_pp.insert(raw_cam_pp.end(), maps.gradcam_pp.begin(), maps.gradcam_pp.end());
    const float* lp = maps.logits.data<float>();
    for (size_t k = 0; k < part.size(); ++k) {
      CamRecord rec;
      rec.index = part[k], rec.label = set->label(part[k]), rec.prediction = maps.targets[k];
      rec.confidence = softmax_row(lp + int64_t(k) * r.cfg.num_classes, r.cfg.num_classes)[size_t(rec.prediction)];
      rec.unit_map = analysis::scale_to_unit(maps.map(plus_plus, int64_t(k), true));
      io::Image face = set->raw(rec.index);
      int64_t side = std::max<int64_t>({face.height, face.width, 128});
      io::Image shown = analysis::blend_heat_map(analysis::face_at(face, side), rec.unit_map, h, w);
      fs::path rel = fs::path("images") / safe_name(names[size_t(rec.label)]) /
                     (std::to_string(rec.index) + "_pred_" + safe_name(names[size_t(rec.prediction)]) + ".png");
      fs::create_directories((r.out / rel).parent_path());
      io::write_png(r.out / rel, shown);
      char conf[32];
      std::snprintf(conf, sizeof conf, "%.6f", rec.confidence);
      csv += std::to_string(rec.index) + "," + analysis::csv_field(set->id(rec.index)) + "," +
             analysis::csv_field(names[size_t(rec.label)]) + "," + std::to_string(rec.label) + "," +
             std::to_string(rec.prediction) + "," + analysis::csv_field(names[size_t(rec.prediction)]) + "," + conf + "," +
             (rec.label == rec.prediction ? "1" : "0") + "," + rel.string() + "\n";
      all_pred.push_back(rec.prediction), all_labels.push_back(rec.label);
      recs.push_back(std::move(rec));
    }
    std::printf("  %zu / %zu images\n", std::min(idx.size(), lo + size_t(c.batch_size)), idx.size());
  }
  const int64_t n = int64_t(recs.size());
  io::write_file_atomically(r.out / "gradcam.csv", csv);
  io::save_safetensors((r.out / "maps.safetensors").string(),
                       {{"gradcam", Tensor::from_vector<double>(raw_cam, {n, h, w}).to(DType::f32)},
                        {"gradcam_pp", Tensor::from_vector<double>(raw_cam_pp, {n, h, w}).to(DType::f32)},
                        {"prediction", Tensor::from_vector<int64_t>(all_pred, {n})},
                        {"label", Tensor::from_vector<int64_t>(all_labels, {n})}},
                       {{"layer", layer}, {"model", r.cfg.model}, {"note", "raw maps before ReLU, [N, h, w]"}});

  // Per class: the most confident correct and incorrect predictions, and the mean map over the class's images.
  nlohmann::json class_summary = nlohmann::json::object();
  analysis::CamGridRow mean_row{"mean map", {}};
  for (int64_t cls = 0; cls < r.cfg.num_classes; ++cls) {
    std::vector<const CamRecord*> right, wrong;
    std::vector<double> mean_map(size_t(h * w), 0.0);
    int64_t count = 0;
    for (const auto& rec : recs) {
      if (rec.label != cls) continue;
      (rec.prediction == cls ? right : wrong).push_back(&rec);
      for (size_t k = 0; k < mean_map.size(); ++k) mean_map[k] += rec.unit_map[k];
      ++count;
    }
    auto by_conf = [](const CamRecord* a, const CamRecord* b) { return a->confidence > b->confidence; };
    std::sort(right.begin(), right.end(), by_conf), std::sort(wrong.begin(), wrong.end(), by_conf);
    auto row = [&](const char* label, const std::vector<const CamRecord*>& v) {
      analysis::CamGridRow gr{label, {}};
      for (size_t k = 0; k < v.size() && int64_t(k) < per_class; ++k) {
        io::Image face = analysis::face_at(set->raw(v[k]->index), 128);
        char cap[96];
        std::snprintf(cap, sizeof cap, "%s %.2f", names[size_t(v[k]->prediction)].c_str(), v[k]->confidence);
        gr.tiles.push_back({analysis::blend_heat_map(face, v[k]->unit_map, h, w), cap});
      }
      return gr;
    };
    std::string cname = names[size_t(cls)];
    analysis::save_cam_grid_png(method + " - class " + cname + " (" + layer + "): most confident predictions",
                                {row("correct", right), row("incorrect", wrong)},
                                r.out / ("grid_" + safe_name(cname) + ".png"));
    if (count > 0) {
      for (double& v : mean_map) v /= double(count);
      // Over the class's mean face.
      std::vector<double> acc(size_t(128 * 128 * 3), 0.0);
      for (const auto& rec : recs)
        if (rec.label == cls) {
          io::Image f = analysis::face_at(set->raw(rec.index), 128);
          for (size_t k = 0; k < acc.size(); ++k) acc[k] += f.pixels[k];
        }
      io::Image mean_face;
      mean_face.height = mean_face.width = 128, mean_face.channels = 3;
      for (double v : acc) mean_face.pixels.push_back(uint8_t(std::lround(v / double(count))));
      mean_row.tiles.push_back({analysis::blend_heat_map(mean_face, analysis::scale_to_unit(mean_map), h, w),
                                cname + " (" + std::to_string(count) + ")"});
    } else {
      mean_row.tiles.push_back({io::Image{128, 128, 3, std::vector<uint8_t>(size_t(128 * 128 * 3), 255)}, cname + " (0)"});
    }
    class_summary[cname] = {{"images", count}, {"correct", right.size()}, {"incorrect", wrong.size()}};
  }
  analysis::save_cam_grid_png(method + " (" + layer + "): mean map per class over its mean face", {mean_row},
                              r.out / "mean_maps.png");
  // The grids also go to the run's TensorBoard log as image summaries (a new event file beside training's).
  {
    report::EventWriter tb(fs::path(c.run) / "tensorboard");
    const std::string tag = "analysis/" + method + "_" + safe_name(layer) + "_" + c.split;
    report::image_summary_from_png_file(tb, tag + "/mean_maps", r.out / "mean_maps.png", 0);
    for (const auto& cname : names)
      report::image_summary_from_png_file(tb, tag + "/" + safe_name(cname), r.out / ("grid_" + safe_name(cname) + ".png"), 0);
  }
  nlohmann::json summary = {{"model", r.cfg.model}, {"layer", layer}, {"method", method}, {"images", n},
                            {"map_size", {h, w}}, {"data_root", c.data_root}, {"split", c.split}, {"per_class", class_summary}};
  io::write_file_atomically(r.out / "summary.json", fer::io::dump_json(summary, 2) + "\n");
  std::printf("gradcam: %lld maps of %lldx%lld at %s -> %s\n", (long long)n, (long long)h, (long long)w, layer.c_str(),
              r.out.string().c_str());
}

void add_gradcam(CLI::App& app) {
  auto* sub = cli::add_subcommand(
      app, "gradcam", "Grad-CAM / Grad-CAM++ heat maps of each image, grids per class, mean maps");
  auto c = std::make_shared<Common>();
  auto layer = std::make_shared<std::string>(), method = std::make_shared<std::string>("gradcam");
  auto per_class = std::make_shared<int64_t>(6);
  add_common(sub, *c);
  sub->add_option("--layer", *layer, "module to explain (default: the model's last convolutional stage, models/cam_layers.hpp)");
  sub->add_option("--method", *method, "gradcam or gradcampp (the figures; maps.safetensors has both)");
  sub->add_option("--per_class", *per_class, "faces per row of each class grid");
  sub->callback([=] { run_gradcam(*c, *layer, *method, *per_class); });
}

// ---------------------------------------------------------------- embed

struct Collected {
  std::vector<double> features;
  int64_t dim = 0;
  std::vector<float> logits;
  std::vector<analysis::EmbeddingRow> rows;
};

void collect(const Run& r, const data::ImageSet& set, const std::string& source, const Common& c, Collected& out) {
  data::Preprocess pp = r.cfg.preprocess();
  std::vector<int64_t> idx = pick(set.size(), c.limit, c.seed);
  for (size_t lo = 0; lo < idx.size(); lo += size_t(c.batch_size)) {
    std::span<const int64_t> part(idx.data() + lo, std::min(idx.size(), lo + size_t(c.batch_size)) - lo);
    data::Batch b = data::make_batch(set, part, pp, c.seed, 0);
    analysis::Features f = analysis::extract_features(*r.model, b.images);
    out.dim = f.features.size(1);
    auto fv = f.features.to_vector();
    out.features.insert(out.features.end(), fv.begin(), fv.end());
    const float* lp = f.logits.data<float>();
    out.logits.insert(out.logits.end(), lp, lp + f.logits.numel());
    for (size_t k = 0; k < part.size(); ++k) {
      auto p = softmax_row(lp + int64_t(k) * r.cfg.num_classes, r.cfg.num_classes);
      int64_t pred = std::max_element(p.begin(), p.end()) - p.begin();
      out.rows.push_back({set.id(part[k]), source, set.label(part[k]), pred, p[size_t(pred)]});
    }
  }
  std::printf("  %s: %zu images\n", source.c_str(), idx.size());
}

void scatter_pair(const analysis::Matrix& xy, const std::vector<analysis::EmbeddingRow>& rows, const train::RunConfig& cfg,
                  const std::string& what, const fs::path& stem, bool two_domains) {
  report::ScatterChart chart;
  chart.x_label = what + " 1", chart.y_label = what + " 2";
  for (int64_t i = 0; i < xy.rows; ++i) chart.x.push_back(xy(i, 0)), chart.y.push_back(xy(i, 1));
  chart.title = what + " of penultimate features, by class";
  chart.group_names = cfg.class_names;
  for (const auto& row : rows) chart.group.push_back(int(row.label));
  report::save_scatter_png(chart, stem.string() + "_class.png");
  chart.title = what + " of penultimate features, by domain";
  chart.group.clear();
  chart.group_names = {"real", "synthetic"};
  for (const auto& row : rows) chart.group.push_back(row.source == "synthetic" ? 1 : 0);
  if (two_domains) report::save_scatter_png(chart, stem.string() + "_domain.png");
}

void write_xy_csv(const fs::path& path, const analysis::Matrix& xy, const std::vector<int64_t>& which) {
  std::string s = "index,x,y\n";
  char buf[96];
  for (int64_t i = 0; i < xy.rows; ++i) {
    std::snprintf(buf, sizeof buf, "%lld,%.9g,%.9g\n", (long long)which[size_t(i)], xy(i, 0), xy(i, 1));
    s += buf;
  }
  io::write_file_atomically(path, s);
}

void run_embed(Common c, const std::string& synthetic, int64_t tsne_max, double perplexity) {
  Run r = load_run(c, "embed");
  Collected all;
  collect(r, *load_split(c, r.cfg), "real", c, all);
  if (!synthetic.empty()) collect(r, *load_synthetic_domain(synthetic, r.cfg), "synthetic", c, all);
  const int64_t n = int64_t(all.rows.size());
  FER_CHECK(n >= 4, "embed: ", n, " images are too few to embed");
  analysis::Matrix x(n, all.dim);
  x.values = all.features;
  analysis::save_embeddings(r.out, x.to_tensor(), Tensor::from_vector<float>(all.logits, {n, r.cfg.num_classes}), all.rows,
                            r.cfg.class_names);
  std::vector<int> domain;
  for (const auto& row : all.rows) domain.push_back(row.source == "synthetic" ? 1 : 0);
  const bool two = !synthetic.empty();
  nlohmann::json summary = {{"model", r.cfg.model}, {"features", all.dim}, {"images", n}, {"data_root", c.data_root},
                            {"split", c.split}, {"synthetic", synthetic}};

  // PCA of everything.
  analysis::Pca pca = analysis::fit_pca(x, std::min<int64_t>({2, x.rows, x.cols}));
  analysis::Matrix xy = pca.transform(x);
  if (xy.cols == 2) {
    std::vector<int64_t> every(static_cast<size_t>(n));
    std::iota(every.begin(), every.end(), 0);
    scatter_pair(xy, all.rows, r.cfg, "PCA", r.out / "pca", two);
    write_xy_csv(r.out / "pca.csv", xy, every);
  }
  summary["pca_explained_variance_ratio"] = pca.explained_variance_ratio;

  // t-SNE of at most tsne_max points (a seeded subsample beyond).
  std::vector<int64_t> keep = pick(n, tsne_max, c.seed);
  analysis::Matrix sub = x.select_rows(keep);
  std::vector<analysis::EmbeddingRow> sub_rows;
  for (int64_t i : keep) sub_rows.push_back(all.rows[size_t(i)]);
  analysis::TsneOptions topt;
  topt.perplexity = std::min(perplexity, double(sub.rows - 1) / 3.0);  // as scikit-learn requires perplexity < N
  topt.seed = c.seed;
  analysis::Matrix emb = analysis::tsne(sub, topt);
  scatter_pair(emb, sub_rows, r.cfg, "t-SNE", r.out / "tsne", two);
  write_xy_csv(r.out / "tsne.csv", emb, keep);
  summary["tsne"] = {{"points", sub.rows}, {"perplexity", topt.perplexity}};
  if (sub.rows > 10) summary["tsne"]["trustworthiness_k5"] = analysis::trustworthiness(sub, emb, 5);

  if (two) {
    std::vector<int64_t> real, synth;
    for (int64_t i = 0; i < n; ++i) (domain[size_t(i)] ? synth : real).push_back(i);
    nlohmann::json gap = {{"real", real.size()}, {"synthetic", synth.size()}};
    if (real.size() >= 2 && synth.size() >= 2)
      gap["frechet_distance"] = analysis::frechet_distance(x.select_rows(real), x.select_rows(synth));
    if (std::min(real.size(), synth.size()) >= 5) {
      analysis::ProbeResult probe = analysis::linear_probe(x, domain, 5);
      gap["probe"] = {{"accuracy", probe.accuracy}, {"chance", probe.chance}, {"fold_accuracy", probe.fold_accuracy},
                      {"method", "L2 logistic regression (C = 1) on standardized features, 5 interleaved folds per domain"}};
    }
    io::write_file_atomically(r.out / "domain_gap.json", fer::io::dump_json(gap, 2) + "\n");
    summary["domain_gap"] = gap;
    std::printf("embed: domain gap: %s\n", fer::io::dump_json(gap).c_str());
  }
  io::write_file_atomically(r.out / "summary.json", fer::io::dump_json(summary, 2) + "\n");
  std::printf("embed: %lld x %lld features -> %s\n", (long long)n, (long long)all.dim, r.out.string().c_str());
}

void add_embed(CLI::App& app) {
  auto* sub = cli::add_subcommand(
      app, "embed", "penultimate features, PCA and t-SNE plots, real-vs-synthetic domain gap");
  auto c = std::make_shared<Common>();
  auto synthetic = std::make_shared<std::string>();
  auto tsne_max = std::make_shared<int64_t>(3000);
  auto perplexity = std::make_shared<double>(30.0);
  add_common(sub, *c);
  sub->add_option("--synthetic", *synthetic, "synthetic image folder (<class>/*.png; numbered folders are the run's class indices) as the second domain");
  sub->add_option("--tsne_max", *tsne_max, "t-SNE (exact, O(N^2)) on at most this many points (seeded subsample)");
  sub->add_option("--perplexity", *perplexity);
  sub->callback([=] { run_embed(*c, *synthetic, *tsne_max, *perplexity); });
}

}  // namespace

// ---------------------------------------------------------------- crossdomain

// The metrics that the side-by-side table shows, from a metrics.json object (null where undefined).
nlohmann::json headline(const nlohmann::json& m) {
  nlohmann::json h;
  for (const char* k : {"accuracy", "macro_f1", "balanced_accuracy", "auroc_macro", "ece", "loss"})
    h[k] = m.contains(k) ? m[k] : nlohmann::json(nullptr);
  return h;
}

std::string cell(const nlohmann::json& v) {
  if (!v.is_number()) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v.get<double>());
  return b;
}

// In-domain (the run's own data, --split) and cross-domain (a whole other source: a synthetic folder or another
// data root) evaluations of the same weights, each with its full outputs, and one table that puts them side by side.
void run_crossdomain(Common c, const std::string& synthetic, const std::string& target_root, const std::string& target_split) {
  FER_CHECK(synthetic.empty() != target_root.empty(), "crossdomain: give exactly one of --synthetic DIR and --target_root X");
  Run r = load_run(c, "crossdomain");
  auto in_set = load_split(c, r.cfg);
  std::shared_ptr<data::ImageSet> cross;
  std::string cross_name;
  if (!synthetic.empty()) {
    cross = load_synthetic_domain(synthetic, r.cfg), cross_name = synthetic + " (all)";
  } else {
    Common t = c;
    t.data_root = target_root, t.split = target_split, t.max_classes = 0, t.ferplus.clear();
    cross = load_split(t, r.cfg), cross_name = target_root + " (" + target_split + ")";
  }
  FER_CHECK(cross->size() > 0, cross_name, ": no images");
  train::check_run_classes(r.cfg, *cross, c.run);
  std::vector<int64_t> keep = pick(cross->size(), c.limit, c.seed);
  std::vector<int64_t> keep_in = pick(in_set->size(), c.limit, c.seed);
  auto in_part = std::make_shared<data::SubsetImageSet>(in_set, keep_in);
  auto cross_part = std::make_shared<data::SubsetImageSet>(cross, keep);
  data::Preprocess pp = r.cfg.preprocess();
  nlohmann::json in_m = train::evaluate_into(*r.model, *in_part, pp, c.batch_size, r.out / "in_domain",
                                             {{"source", c.data_root + " (" + c.split + ")"}});
  nlohmann::json cross_m = train::evaluate_into(*r.model, *cross_part, pp, c.batch_size, r.out / "cross_domain",
                                                {{"source", cross_name}});
  nlohmann::json j = {{"model", r.cfg.model},
                      {"in_domain", {{"source", c.data_root + " (" + c.split + ")"}, {"images", in_part->size()}, {"metrics", headline(in_m)}}},
                      {"cross_domain", {{"source", cross_name}, {"images", cross_part->size()}, {"metrics", headline(cross_m)}}}};
  std::string md = "# In-domain vs cross-domain: " + r.cfg.model + " (" + c.run + ")\n\n| metric | in-domain: " +
                   c.data_root + " (" + c.split + ", " + std::to_string(in_part->size()) + " images) | cross-domain: " +
                   cross_name + " (" + std::to_string(cross_part->size()) + " images) | difference |\n|---|---:|---:|---:|\n";
  for (auto& [k, v] : j["in_domain"]["metrics"].items()) {
    const nlohmann::json& w = j["cross_domain"]["metrics"][k];
    std::string diff = v.is_number() && w.is_number() ? cell(w.get<double>() - v.get<double>()) : "n/a";
    md += "| " + k + " | " + cell(v) + " | " + cell(w) + " | " + diff + " |\n";
  }
  md += "\n| class | in-domain F1 | cross-domain F1 |\n|---|---:|---:|\n";
  for (size_t k = 0; k < r.cfg.class_names.size(); ++k)
    md += "| " + r.cfg.class_names[k] + " | " + cell(in_m["per_class"][k]["f1"]) + " | " +
          cell(cross_m["per_class"][k]["f1"]) + " |\n";
  io::write_file_atomically(r.out / "crossdomain.json", fer::io::dump_json(j, 2) + "\n");
  io::write_file_atomically(r.out / "crossdomain.md", md);
  std::printf("%s", md.c_str());
}

void add_crossdomain(CLI::App& app) {
  auto* sub = cli::add_subcommand(
      app, "crossdomain", "the run's metrics in-domain and on a whole other source, side by side");
  auto c = std::make_shared<Common>();
  auto synthetic = std::make_shared<std::string>(), target_root = std::make_shared<std::string>();
  auto target_split = std::make_shared<std::string>("all");
  add_common(sub, *c);
  sub->add_option("--synthetic", *synthetic, "the other domain: a synthetic folder (<class>/*.png as generate writes; numbered folders are the run's class indices)");
  sub->add_option("--target_root", *target_root, "the other domain: any data source (e.g. a real FER2013 CSV for a synthetic-trained run)");
  sub->add_option("--target_split", *target_split, "split of --target_root: train, val, test or all");
  sub->callback([=] { run_crossdomain(*c, *synthetic, *target_root, *target_split); });
}

// ---------------------------------------------------------------- curves

// One-vs-rest ROC and precision-recall curves, average precision, confidence histograms of correct vs incorrect
// predictions, reliability diagram, and (with --groups) the metrics of emotion groups.
void run_curves(Common c, const std::string& groups) {
  Run r = load_run(c, "curves");
  auto set = load_split(c, r.cfg);
  auto part = std::make_shared<data::SubsetImageSet>(set, pick(set->size(), c.limit, c.seed));
  nlohmann::json m = train::evaluate_into(
      *r.model, *part, r.cfg.preprocess(), c.batch_size, r.out, {{"source", c.data_root + " (" + c.split + ")"}},
      [&](const train::EvalResult& e, nlohmann::json& j) {
        train::add_curves_and_groups(r.out, e, r.cfg.class_names, groups, j);
      });
  std::printf("curves: %lld images, %s, macro AP %s -> %s\n", (long long)part->size(), train::metrics_line(m).c_str(),
              cell(m["curves"]["macro_average_precision"]).c_str(), r.out.string().c_str());
  if (m.contains("groups"))
    std::printf("groups (%s): accuracy %s  macro-F1 %s  AUROC %s\n", groups.c_str(), cell(m["groups"]["accuracy"]).c_str(),
                cell(m["groups"]["macro_f1"]).c_str(), cell(m["groups"]["auroc_macro"]).c_str());
}

void add_curves(CLI::App& app) {
  auto* sub = cli::add_subcommand(
      app, "curves", "per-class ROC/PR curves, average precision, confidence histograms, emotion groups");
  auto c = std::make_shared<Common>();
  auto groups = std::make_shared<std::string>();
  add_common(sub, *c);
  sub->add_option("--groups", *groups, "emotion groups, e.g. \"positive=happy,surprise;negative=angry,disgust,fear,sad;neutral=neutral\"");
  sub->callback([=] { run_curves(*c, *groups); });
}

int program_main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Analyses of a trained fer run (written into RUN/analysis/<name>/)");
  CLI::App& app = *app_owner;
  app.require_subcommand(1);
  add_gradcam(app);
  add_embed(app);
  add_crossdomain(app);
  add_curves(app);
  try {
    if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "analyze: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace analyze_program
