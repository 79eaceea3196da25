// The functions declared in sweep/report.hpp: compiled once here rather than in every program that includes the header.
#include "fer/sweep/report.hpp"
#include "fer/io/json_text.hpp"

namespace fer::sweep {

const std::vector<MetricSpec>& report_metrics() {
  static const std::vector<MetricSpec> m = {{"accuracy", "Accuracy", "acc_vs_realrate.png"},
                                            {"macro_f1", "F1 (macro)", "f1_vs_realrate.png"},
                                            {"auroc_macro", "AUROC (macro, one-vs-rest)", "auroc_vs_realrate.png"},
                                            {"macro_precision", "Precision (macro)", nullptr},
                                            {"macro_recall", "Recall (macro)", "recall_vs_realrate.png"}};
  return m;
}

void read_predictions(const std::filesystem::path& path, std::vector<int32_t>& y, std::vector<int32_t>& pred) {
  std::ifstream in(path);
  FER_CHECK(in.good(), path.string(), ": cannot open");
  std::string line;
  std::getline(in, line);
  FER_CHECK(line.rfind("id,true,predicted", 0) == 0, path.string(), ": expected the header id,true,predicted,...");
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string id, t, p;
    std::getline(ss, id, ','), std::getline(ss, t, ','), std::getline(ss, p, ',');
    try {
      y.push_back(int32_t(std::stol(t)));
      pred.push_back(int32_t(std::stol(p)));
    } catch (const std::exception&) {
      fail(path.string(), ":", line_no, ": malformed row '", line, "'");
    }
  }
}

bool load_run_result(const std::filesystem::path& dir, const RunSpec& spec, RunResult& out) {
  auto mpath = dir / "metrics.json";
  if (!std::filesystem::exists(mpath)) return false;
  std::ifstream in(mpath);
  try {
    out.metrics = fer::io::parse_json(in);
  } catch (const std::exception& e) {
    fail(mpath.string(), ": unreadable (", e.what(), ")");
  }
  out.spec = spec;
  out.dir = dir;
  if (std::filesystem::exists(dir / "predictions.csv")) read_predictions(dir / "predictions.csv", out.y, out.pred);
  return true;
}

}  // namespace fer::sweep

namespace fer::sweep::report_detail {

std::string fmt(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

std::string ratio_label(double r) { return fmt(r, 1); }

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string setting_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : fer::io::dump_json(v); }

double metric_of(const RunResult& r, const char* key) {
  if (!r.metrics.contains("test") || !r.metrics["test"].contains(key) || !r.metrics["test"][key].is_number()) return NAN;
  return r.metrics["test"][key].get<double>();
}

}  // namespace fer::sweep::report_detail

namespace fer::sweep {

nlohmann::json write_sweep_report(const std::filesystem::path& out_dir, const std::vector<RunResult>& results,
                                  const std::vector<std::string>& models, const std::vector<double>& ratios,
                                  int num_classes, const StudyInfo& info, int64_t bootstrap_resamples) {
  using namespace report_detail;
  for (size_t i = 0; i < results.size(); ++i)
    for (size_t j = i + 1; j < results.size(); ++j)
      FER_CHECK(results[i].spec.id() != results[j].spec.id(), "sweep report: run ", results[i].spec.id(), " appears twice (",
                results[i].dir.string(), " and ", results[j].dir.string(), "); it would count as an extra seed");
  std::filesystem::create_directories(out_dir);
  nlohmann::json summary;
  summary["study"] = {{"data", info.data}, {"synthetic", info.synthetic}, {"fer_version", info.fer_version},
                      {"settings_fingerprint", info.settings_fingerprint}, {"settings", info.settings},
                      {"notes", info.notes}};
  summary["failed_runs"] = nlohmann::json::array();
  for (const auto& f : info.failed) summary["failed_runs"].push_back({{"id", f.id}, {"error", f.error}});
  summary["num_runs"] = results.size();
  summary["runs"] = nlohmann::json::array();
  for (const RunResult& r : results) {
    nlohmann::json run = {{"id", r.spec.id()}, {"model", r.spec.model}, {"real_ratio", r.spec.real_ratio},
                          {"seed", r.spec.seed}, {"dir", std::filesystem::relative(r.dir, out_dir).string()}};
    for (const auto& m : report_metrics()) run[m.key] = metric_of(r, m.key);
    run["wall_seconds"] = r.metrics.value("wall_seconds", NAN);
    run["images_per_second"] = r.metrics.value("images_per_second", NAN);
    summary["runs"].push_back(run);
  }
  // Per (metric, model, ratio): values over seeds.
  auto values = [&](const char* key, const std::string& model, double ratio) {
    std::vector<double> v;
    for (const RunResult& r : results)
      if (r.spec.model == model && std::abs(r.spec.real_ratio - ratio) < 1e-9 && std::isfinite(metric_of(r, key)))
        v.push_back(metric_of(r, key));
    return v;
  };
  std::string md = "# Sweep summary\n\n" + std::to_string(results.size()) + " runs" +
                   (info.failed.empty() ? std::string() : ", " + std::to_string(info.failed.size()) + " FAILED (listed below)") +
                   ". Cells: mean ± 95% CI half-width over seeds (Student t) when a cell has several seeds.\n";
  // The study: what these numbers were measured on, with what, by which fer.
  std::string study_md = "\n## Study\n\n- fer version: " + (info.fer_version.empty() ? "unknown" : info.fer_version) +
                         "\n- data: " + (info.data.empty() ? "unknown" : info.data) + "\n- synthetic data / generator: " +
                         (info.synthetic.empty() ? "none" : info.synthetic) + "\n- settings fingerprint: " +
                         (info.settings_fingerprint.empty() ? "unknown" : info.settings_fingerprint) + "\n- settings: ";
  std::string study_html = "<h2>Study</h2><ul><li>fer version: " + html_escape(info.fer_version.empty() ? "unknown" : info.fer_version) +
                           "</li><li>data: " + html_escape(info.data.empty() ? "unknown" : info.data) +
                           "</li><li>synthetic data / generator: " + html_escape(info.synthetic.empty() ? "none" : info.synthetic) +
                           "</li><li>settings fingerprint: " + html_escape(info.settings_fingerprint) + "</li><li>settings: ";
  bool first_setting = true;
  for (const auto& [k, v] : info.settings.items()) {
    study_md += std::string(first_setting ? "" : ", ") + "`" + k + "` " + setting_text(v);
    study_html += std::string(first_setting ? "" : ", ") + "<code>" + html_escape(k) + "</code> " + html_escape(setting_text(v));
    first_setting = false;
  }
  study_md += "\n";
  study_html += "</li></ul>";
  for (const auto& n : info.notes) study_md += "\n**Note:** " + n + "\n", study_html += "<p><b>Note:</b> " + html_escape(n) + "</p>";
  std::string failed_md, failed_html;
  if (!info.failed.empty()) {
    failed_md = "\n## Failed runs (not in the tables)\n\n| run | error |\n|---|---|\n";
    failed_html = "<h2>Failed runs (not in the tables)</h2><table><tr><th>run</th><th>error</th></tr>";
    for (const auto& f : info.failed) {
      std::string err = f.error;
      std::replace(err.begin(), err.end(), '\n', ' ');
      std::replace(err.begin(), err.end(), '|', '/');
      failed_md += "| " + f.id + " | " + err + " |\n";
      failed_html += "<tr><td>" + html_escape(f.id) + "</td><td>" + html_escape(f.error) + "</td></tr>";
    }
    failed_html += "</table>";
  }
  md += study_md + failed_md;
  bool any_seeds = false;
  for (const auto& m : report_metrics()) {
    nlohmann::json table;
    md += std::string("\n## ") + m.title + "\n\n| model |";
    for (double r : ratios) md += " r=" + ratio_label(r) + " |";
    md += "\n|---|";
    for (size_t k = 0; k < ratios.size(); ++k) md += "---:|";
    md += "\n";
    report::LineChart chart{std::string(m.title) + " vs real-data ratio", "real-data ratio", m.title, {}};
    for (const std::string& model : models) {
      md += "| " + model + " |";
      report::Series s{model, {}, {}, {}};
      for (double r : ratios) {
        MeanCI ci = mean_ci95(values(m.key, model, r));
        table[model][ratio_label(r)] = {{"mean", ci.mean}, {"ci95", ci.half_width}, {"n", ci.n}};
        md += " " + (ci.n == 0 ? std::string("–") : fmt(ci.mean) + (ci.n > 1 ? " ± " + fmt(ci.half_width) : "")) + " |";
        any_seeds |= ci.n > 1;
        s.x.push_back(r), s.y.push_back(ci.mean), s.err.push_back(ci.n > 1 ? ci.half_width : 0);
      }
      md += "\n";
      chart.series.push_back(s);
    }
    summary["tables"][m.key] = table;
    if (m.plot && !results.empty()) report::save_line_chart_png(chart, out_dir / m.plot);
  }
  // Paired bootstrap on the test set (first seed of each cell): ratios within a model, models within a ratio.
  auto first_run = [&](const std::string& model, double ratio) -> const RunResult* {
    const RunResult* best = nullptr;
    for (const RunResult& r : results)
      if (r.spec.model == model && std::abs(r.spec.real_ratio - ratio) < 1e-9 && !r.y.empty() &&
          (!best || r.spec.seed < best->spec.seed))
        best = &r;
    return best;
  };
  nlohmann::json sig = nlohmann::json::array();
  std::string sig_md, sig_html;
  auto compare = [&](const RunResult* a, const RunResult* b, const std::string& what) {
    if (!a || !b || a->y != b->y) return;  // only on the same test images
    PairedDifference d = paired_bootstrap_f1(a->y, a->pred, b->pred, num_classes, bootstrap_resamples, 12345);
    sig.push_back({{"comparison", what}, {"a", a->spec.id()}, {"b", b->spec.id()}, {"f1_difference", d.difference},
                   {"ci95_low", d.ci_low}, {"ci95_high", d.ci_high}, {"p_value", d.p_value}, {"significant", d.significant()}});
    sig_md += "| " + what + " | " + fmt(d.difference) + " | [" + fmt(d.ci_low) + ", " + fmt(d.ci_high) + "] | " +
              fmt(d.p_value, 3) + " | " + (d.significant() ? "yes" : "no") + " |\n";
    sig_html += "<tr><td>" + html_escape(what) + "</td><td>" + fmt(d.difference) + "</td><td>[" + fmt(d.ci_low) + ", " +
                fmt(d.ci_high) + "]</td><td>" + fmt(d.p_value, 3) + "</td><td>" + (d.significant() ? "yes" : "no") + "</td></tr>";
  };
  for (const std::string& model : models)
    for (size_t i = 0; i + 1 < ratios.size(); ++i)
      compare(first_run(model, ratios[i + 1]), first_run(model, ratios[i]),
              model + ": r=" + ratio_label(ratios[i + 1]) + " vs r=" + ratio_label(ratios[i]));
  for (double r : ratios)
    for (size_t i = 0; i < models.size(); ++i)
      for (size_t k = i + 1; k < models.size(); ++k)
        compare(first_run(models[i], r), first_run(models[k], r), "r=" + ratio_label(r) + ": " + models[i] + " vs " + models[k]);
  summary["significance"] = sig;
  if (!sig_md.empty())
    md += "\n## Significance of macro-F1 differences (paired bootstrap, " + std::to_string(bootstrap_resamples) +
          " resamples of the test set, first seed)\n\n| comparison | ΔF1 | 95% CI | p | significant |\n|---|---:|---|---:|---|\n" +
          sig_md;
  if (!any_seeds) md += "\nSingle seed per cell: no confidence intervals over seeds.\n";
  // Timing.
  md += "\n## Runs\n\n| run | accuracy | macro F1 | wall time (s) | images/s |\n|---|---:|---:|---:|---:|\n";
  for (const auto& run : summary["runs"])
    md += "| " + run["id"].get<std::string>() + " | " + fmt(run["accuracy"].is_number() ? run["accuracy"].get<double>() : NAN) +
          " | " + fmt(run["macro_f1"].is_number() ? run["macro_f1"].get<double>() : NAN) + " | " +
          fmt(run["wall_seconds"].is_number() ? run["wall_seconds"].get<double>() : NAN, 1) + " | " +
          fmt(run["images_per_second"].is_number() ? run["images_per_second"].get<double>() : NAN, 1) + " |\n";

  io::write_file_atomically(out_dir / "summary.json", fer::io::dump_json(summary, 2) + "\n");
  report::write_yaml_file(out_dir / "summary.yaml", summary);
  io::write_file_atomically(out_dir / "summary.md", md);

  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>fer sweep</title><style>"
      "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
      "img.t{height:120px}</style></head><body><h1>Sweep</h1><p><a href=\"summary.md\">summary.md</a> · "
      "<a href=\"summary.json\">summary.json</a> · <a href=\"summary.yaml\">summary.yaml</a></p>" +
      study_html + failed_html;
  for (const auto& m : report_metrics())
    if (m.plot) html += std::string("<img src=\"") + m.plot + "\" width=\"450\">";
  if (!sig_html.empty())
    html += "<h2>Significance of macro-F1 differences</h2><p>Paired bootstrap, " + std::to_string(bootstrap_resamples) +
            " resamples of the test set, first seed of each cell.</p><table><tr><th>comparison</th><th>&Delta;F1</th>"
            "<th>95% CI</th><th>p</th><th>significant</th></tr>" + sig_html + "</table>";
  html += "<h2>Runs</h2><table><tr><th>run</th><th>accuracy</th><th>macro F1</th><th>wall s</th><th>images/s</th>"
          "<th>confusion matrix</th><th>reliability</th><th>files</th></tr>";
  for (const auto& run : summary["runs"]) {
    std::string d = run["dir"].get<std::string>();
    html += "<tr><td>" + run["id"].get<std::string>() + "</td><td>" +
            fmt(run["accuracy"].is_number() ? run["accuracy"].get<double>() : NAN) + "</td><td>" +
            fmt(run["macro_f1"].is_number() ? run["macro_f1"].get<double>() : NAN) + "</td><td>" +
            fmt(run["wall_seconds"].is_number() ? run["wall_seconds"].get<double>() : NAN, 1) + "</td><td>" +
            fmt(run["images_per_second"].is_number() ? run["images_per_second"].get<double>() : NAN, 1) + "</td>" +
            "<td><a href=\"" + d + "/confusion_matrix.png\"><img class=\"t\" src=\"" + d + "/confusion_matrix.png\"></a></td>" +
            "<td><a href=\"" + d + "/reliability.png\"><img class=\"t\" src=\"" + d + "/reliability.png\"></a></td>" +
            "<td><a href=\"" + d + "/metrics.json\">metrics</a> · <a href=\"" + d + "/log.csv\">log</a> · <a href=\"" + d +
            "/predictions.csv\">predictions</a> · <a href=\"" + d + "/curves.png\">curves</a></td></tr>";
  }
  html += "</table></body></html>\n";
  io::write_file_atomically(out_dir / "index.html", html);
  return summary;
}

}  // namespace fer::sweep
