// Whole-model throughput of the study backbones, on the CPU or on a CUDA device: a training step (forward,
// cross-entropy, backward, SGD with momentum) as fer's trainer runs it -- recorded once, replayed per batch -- and
// an eval forward (no gradients, eval mode), on random NHWC images and labels (7 classes, no loader in the loop).
//
//   bench_backbones --models resnet18,densenet121 --modes train,eval --sizes 48,64 [--json out.jsonl]
//   bench_backbones --models resnet18 --modes train --sizes 64 --profile       # per-op time table
//   bench_backbones --models resnet18,densenet121 --unfused          # without the training fusions
//   bench_backbones --models densenet121 --modes train --accumulate-grads   # every gradient zero-filled, then added
//   bench_backbones --models resnet18 --modes train --grad-arena off   # each intermediate gradient its own buffer
//   bench_backbones --device cuda --modes train --sizes 64 --train-batch 256 --optimizer adamw --eager --amp bf16
//
// On CUDA each timed step ends with a device synchronization; --eager runs the step without record-and-replay
// (as the trainer does with --amp), --amp bf16 runs the forward under bf16 autocast.
// Per row it also reports the process's CPU time over the timed steps as a fraction of wall time x threads
// (`cpu busy`: 1 minus the share of the step the worker threads sat waiting, run with OMP_WAIT_POLICY=passive so
// that waiting threads sleep instead of spinning) and the process's peak resident memory (max RSS, which only grows:
// run one configuration per process for a model's own figure).
//
// Discipline: the model is built and the step recorded before any timing, then --warmup steps run untimed and
// --iters steps are timed one by one (steady clock); the median is reported (the machine is shared: the median
// ignores the steps another process stretched), with the fastest step next to it.
// FLOPs are counted from the model's actual layers: every recorded conv2d / linear / matmul node contributes
// 2 x its multiply-adds (output elements x weight elements per output channel); a training step counts 3x the
// forward (forward, input gradient, weight gradient). tools/bench_backbones_peer.py counts PyTorch's
// Conv2d / Linear modules with the same formula.
// --profile times every recorded node's forward and backward, the zeroing of intermediate gradients and the
// optimizer separately and prints them grouped by op name (a timing hook around each tape node; the per-node
// clock reads cost ~50 ns each, negligible against the ops), with the OpenMP regions (fork/joins) each op forked;
// then it replays --iters more steps with fer's parallel accounting on (fer/core/parallel_stats.hpp) and prints per
// step the regions, the serial time (outside any region), the time in regions and the thread-time the threads sat
// idle, as a share of threads x step: inside regions (threads x region wall - time in the work function) and
// outside them ((threads - 1) x serial time). In eval mode --profile records the forward once at full batch and
// times its nodes replayed (the recording holds every activation, so it runs after the timed eager forwards).
// --unfused runs ResNet's last BN, residual add and ReLU apart (nn::fuse_bn_add_relu(false)) and DenseNet's blocks
// as a concatenation per layer (models::densenet_in_place(false)): the sequences those fusions replace.
// --accumulate-grads replays the step with every intermediate gradient zero-filled and added to
// (Graph::set_always_accumulate), the scheme before first writers wrote their gradients: a paired before/after.
// --unmerged-regions runs the kernels' work in as many OpenMP regions (or on one thread between them) as before it
// was merged into fewer (fer/core/region_merging.hpp): a paired before/after in one binary.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "fer/autograd/autocast.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/core/parallel.hpp"
#include "fer/core/parallel_stats.hpp"
#include "fer/core/region_merging.hpp"
#include "fer/kernels/runtime.hpp"
#include "fer/nn/fold_bn.hpp"
#include "fer/ops/loss.hpp"
#include "fer/optim/adam.hpp"
#include "fer/optim/sgd.hpp"
#include "models/densenet.hpp"
#include "models/registry.hpp"

namespace bench_backbones {

namespace {

using namespace fer;
using Clock = std::chrono::steady_clock;

constexpr int64_t kClasses = 7;

struct Config {
  std::vector<std::string> models = {"resnet18"};
  std::vector<std::string> modes = {"train"};
  std::vector<int64_t> sizes = {64};
  int64_t train_batch = 32, eval_batch = 64;
  int warmup = 3, iters = 10;
  bool profile = false, fold = true, unfused = false, accumulate_grads = false, unmerged_regions = false, grad_arena = true;
  std::string json;
  Device device = Device::cpu();
  std::string amp = "off", optimizer = "sgd";
  bool eager = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

int64_t parse_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  FER_CHECK(end && *end == 0 && x >= 0, "bench_backbones: ", flag, " wants a non-negative integer, got '", v, "'");
  return x;
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: bench_backbones [--models a,b] [--modes train,eval] [--sizes 48,64] [--train-batch 32]\n"
          "                       [--eval-batch 64] [--warmup 3] [--iters 10] [--profile] [--unfused] [--no-fold]\n"
          "                       [--json FILE]\n"
          "                       [--accumulate-grads] [--unmerged-regions] [--grad-arena on|off]\n"
          "                       [--device cpu|cuda] [--amp off|bf16] [--optimizer sgd|adamw] [--eager]\n"
          "models: any name of models/registry.hpp; threads: OMP_NUM_THREADS\n");
      std::exit(0);
    }
    if (a == "--unmerged-regions") {
      c.unmerged_regions = true;
      continue;
    }
    if (a == "--no-fold") {
      c.fold = false;
      continue;
    }
    if (a == "--profile" || a == "--eager" || a == "--unfused" || a == "--accumulate-grads") {
      (a == "--profile" ? c.profile : a == "--eager" ? c.eager : a == "--unfused" ? c.unfused : c.accumulate_grads) = true;
      continue;
    }
    FER_CHECK(i + 1 < argc, "bench_backbones: ", a, " needs a value");
    std::string v = argv[++i];
    if (a == "--models") c.models = split(v);
    else if (a == "--modes") c.modes = split(v);
    else if (a == "--sizes") {
      c.sizes.clear();
      for (auto& s : split(v)) c.sizes.push_back(parse_int(a, s));
    } else if (a == "--train-batch") c.train_batch = parse_int(a, v);
    else if (a == "--eval-batch") c.eval_batch = parse_int(a, v);
    else if (a == "--warmup") c.warmup = int(parse_int(a, v));
    else if (a == "--iters") c.iters = int(parse_int(a, v));
    else if (a == "--json") c.json = v;
    else if (a == "--device") c.device = parse_device(v);
    else if (a == "--amp") c.amp = v;
    else if (a == "--optimizer") c.optimizer = v;
    else if (a == "--grad-arena") {
      FER_CHECK(v == "on" || v == "off", "bench_backbones: --grad-arena must be on or off, got '", v, "'");
      c.grad_arena = v == "on";
    }
    else fail("bench_backbones: unknown option ", a, " (see --help)");
  }
  for (auto& m : c.modes) FER_CHECK(m == "train" || m == "eval", "bench_backbones: mode '", m, "' is not train or eval");
  FER_CHECK(!c.models.empty() && !c.modes.empty() && !c.sizes.empty(), "bench_backbones: empty --models/--modes/--sizes");
  FER_CHECK(c.iters > 0 && c.train_batch > 0 && c.eval_batch > 0, "bench_backbones: --iters and batches must be positive");
  for (int64_t s : c.sizes) FER_CHECK(s > 0, "bench_backbones: --sizes must be positive");
  FER_CHECK(c.amp == "off" || c.amp == "bf16", "bench_backbones: --amp must be off or bf16, got '", c.amp, "'");
  FER_CHECK(c.amp == "off" || c.device.is_cuda(), "bench_backbones: --amp bf16 needs --device cuda");
  FER_CHECK(c.amp == "off" || c.eager, "bench_backbones: --amp bf16 runs eager steps: add --eager");
  FER_CHECK(c.optimizer == "sgd" || c.optimizer == "adamw", "bench_backbones: --optimizer must be sgd or adamw");
  FER_CHECK(!(c.profile && (c.eager || c.device.is_cuda())), "bench_backbones: --profile times a replayed CPU step");
  if (c.device.is_cuda()) {
    FER_CHECK(built_with_cuda(), "bench_backbones: --device cuda needs a build with the CUDA backend");
    FER_CHECK(cuda::available(), "bench_backbones: --device cuda but no CUDA device is available");
  }
  return c;
}

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// 2 x multiply-adds of the recorded conv2d / linear / matmul nodes (one forward).
double forward_flops(const Graph& g) {
  double flops = 0;
  for (const auto& n : g.nodes()) {
    std::string name = n->name;
    if (name == "conv2d" || name == "linear") {
      const Tensor& w = n->inputs[1];  // conv [O, kh, kw, C/groups], linear [O, I]
      flops += 2.0 * double(n->outputs[0].numel()) * double(w.numel() / w.size(0));
    } else if (name == "matmul") {
      flops += 2.0 * double(n->outputs[0].numel()) * double(n->inputs[0].size(-1));
    }
  }
  return flops;
}

struct Sample {
  std::vector<double> times;
  double median() const {
    std::vector<double> t = times;
    std::sort(t.begin(), t.end());
    size_t n = t.size();
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  }
  double best() const { return *std::min_element(times.begin(), times.end()); }
};

// Per-op accumulated seconds for --profile.
struct Profile {
  std::map<std::string, double> fwd, bwd;
  std::map<std::string, int64_t> regions;  // OpenMP regions forked, forward and backward together
  double zero_grads = 0, optimizer = 0, total = 0;
  int64_t zero_grads_regions = 0, optimizer_regions = 0;
  int steps = 0;
  bool training = true;  // false: an eval forward (no backward, optimizer or gradient rows)
};

// Per-step sums of fer's parallel accounting over plain replayed steps, for --profile.
struct ForkJoins {
  int steps = 0;
  int64_t regions = 0, inline_calls = 0;
  double step_s = 0, region_s = 0, busy_s = 0;
  std::vector<double> times;
};

// The profile's row for a node: its op name, and for convolutions the kind (kernel size; depthwise or grouped),
// because 3x3, 1x1 and depthwise convolutions run different kernels at very different speeds.
std::string op_label(const Node& n) {
  std::string name = n.name;
  if (name != "conv2d") return name;
  const Tensor &x = n.inputs[0], &w = n.inputs[1];  // x [N, H, W, C], w [O, kh, kw, C/groups]
  const int64_t groups = x.size(3) / w.size(3);
  std::string k = std::to_string(w.size(1)) + "x" + std::to_string(w.size(2));
  if (groups == 1) return "conv2d " + k;
  return (groups == x.size(3) ? "conv2d depthwise " : "conv2d grouped ") + k;
}

// One replay of the step with a clock around every node; mirrors Graph::forward/backward and run_backward.
// Regions forked since the accounting was last reset.
int64_t regions_so_far() { return parallel_stats().regions; }

// The recorded forward replayed with a clock around every node, added to prof's forward rows.
void time_forward_nodes(Graph& g, Profile& prof) {
  for (const auto& n : g.nodes()) {
    const int64_t r = regions_so_far();
    auto a = Clock::now();
    n->forward();
    const std::string label = op_label(*n);
    prof.fwd[label] += seconds(a, Clock::now());
    prof.regions[label] += regions_so_far() - r;
  }
}

void profiled_step(Graph& g, optim::SGD& opt, Profile& prof) {
  enable_parallel_stats(true);
  auto t0 = Clock::now();
  opt.zero_grad();
  auto t1 = Clock::now();
  prof.optimizer += seconds(t0, t1);
  prof.optimizer_regions += regions_so_far();
  time_forward_nodes(g, prof);
  // The walk's time outside the nodes' backwards: zero-filling the gradients whose first writer adds (before the
  // walk, or before that writer for the arena's) and seeding the root.
  double in_nodes = 0;
  auto z = Clock::now();
  int64_t r = regions_so_far();
  int64_t regions_in_nodes = 0;
  g.backward(Tensor(), [&](Node& n) {  // d loss = 1
    const int64_t before = regions_so_far();
    auto a = Clock::now();
    const bool ran = backward_node(n);
    const double t = seconds(a, Clock::now());
    const int64_t node_regions = regions_so_far() - before;
    in_nodes += t;
    regions_in_nodes += node_regions;
    if (ran) {
      const std::string label = op_label(n);
      prof.bwd[label] += t;
      prof.regions[label] += node_regions;
    }
  });
  prof.zero_grads += seconds(z, Clock::now()) - in_nodes;
  prof.zero_grads_regions += regions_so_far() - r - regions_in_nodes;
  r = regions_so_far();
  auto s = Clock::now();
  opt.step();
  auto e = Clock::now();
  prof.optimizer_regions += regions_so_far() - r;
  enable_parallel_stats(false);
  prof.optimizer += seconds(s, e);
  prof.total += seconds(t0, e);
  ++prof.steps;
}

// One replay of a recorded eval forward with a clock around every node.
void profiled_forward(Graph& g, Profile& prof) {
  enable_parallel_stats(true);
  auto t0 = Clock::now();
  time_forward_nodes(g, prof);
  enable_parallel_stats(false);
  prof.total += seconds(t0, Clock::now());
  ++prof.steps;
}

void print_profile(const Profile& p, const std::string& label) {
  struct Row {
    std::string op;
    double f, b;
    int64_t regions;
  };
  std::vector<Row> rows;
  std::map<std::string, Row> by;
  for (auto& [k, v] : p.fwd) by[k].f += v, by[k].op = k;
  for (auto& [k, v] : p.bwd) by[k].b += v, by[k].op = k;
  for (auto& [k, v] : p.regions) by[k].regions += v, by[k].op = k;
  for (auto& [k, r] : by) rows.push_back(r);
  if (p.training) {
    rows.push_back({"(zero intermediate grads)", 0, p.zero_grads, p.zero_grads_regions});
    rows.push_back({"(optimizer: zero_grad + SGD step)", p.optimizer, 0, p.optimizer_regions});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.f + a.b > b.f + b.b; });
  const double per = 1e3 / p.steps, total = p.total * per;
  std::printf("\nper-op profile, %s (mean over %d steps, %.1f ms per step)\n\n", label.c_str(), p.steps, total);
  std::printf("| op | forward ms | backward ms | total ms | share | OpenMP regions |\n|---|---:|---:|---:|---:|---:|\n");
  double listed = 0;
  int64_t regions = 0;
  for (const Row& r : rows) {
    double t = (r.f + r.b) * per;
    listed += t;
    regions += r.regions;
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f%% | %.0f |\n", r.op.c_str(), r.f * per, r.b * per, t, 100 * t / total,
                double(r.regions) / p.steps);
  }
  std::printf("| (between nodes: loop, clocks) | | | %.1f | %.1f%% | |\n", total - listed, 100 * (total - listed) / total);
  std::printf("| (all) | | | %.1f | | %.0f |\n", total, double(regions) / p.steps);
}

// Plain replayed steps with the parallel accounting on, one reset per step.
template <class Step>
void count_fork_joins(int iters, Step&& step, ForkJoins& fj) {
  for (int i = 0; i < iters; ++i) {
    enable_parallel_stats(true);
    auto a = Clock::now();
    step();
    const double t = seconds(a, Clock::now());
    const ParallelStats s = parallel_stats();
    enable_parallel_stats(false);
    fj.regions += s.regions;
    fj.inline_calls += s.inline_calls;
    fj.region_s += s.region_s;
    fj.busy_s += s.busy_s;
    fj.step_s += t;
    fj.times.push_back(t);
    ++fj.steps;
  }
}

void print_fork_joins(const ForkJoins& fj, const std::string& label) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const int threads = num_threads();
  const double per = 1.0 / fj.steps, step = fj.step_s * per, region = fj.region_s * per;
  const double serial = step - region, slots = threads * step;
  const double idle_in = threads * region - fj.busy_s * per, idle_out = (threads - 1) * serial;
  std::vector<double> t = fj.times;
  std::sort(t.begin(), t.end());
  std::printf("\nOpenMP fork/joins per step, %s (mean over %d replayed steps with the accounting on; %d threads; "
              "OMP_WAIT_POLICY=%s)\n\n", label.c_str(), fj.steps, threads, policy ? policy : "(unset)");
  std::printf("| regions | inline calls | step ms (median) | serial ms | region ms | idle in regions | idle outside "
              "| idle total |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %.0f | %.0f | %.1f (%.1f) | %.1f | %.1f | %.1f%% | %.1f%% | %.1f%% |\n", double(fj.regions) * per,
              double(fj.inline_calls) * per, step * 1e3, t[t.size() / 2] * 1e3, serial * 1e3, region * 1e3,
              100 * idle_in / slots, 100 * idle_out / slots, 100 * (idle_in + idle_out) / slots);
}

struct Result {
  std::string model, mode;
  int64_t size, batch;
  double median_s, best_s, flops;
  int iters;
  double cpu_busy;   // process CPU time over the timed steps / (their wall time x threads)
  double max_rss_mib;
  std::vector<double> times;
  Profile profile;  // steps == 0 unless --profile
  ForkJoins fork_joins;
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Times `iters` calls of `step`, each ended by a device synchronization on CUDA; adds the CPU time they used.
template <class Step>
void time_steps(const Config& c, Step&& step, Sample& sample, double& cpu_seconds) {
  const double cpu0 = process_cpu_seconds();
  for (int i = 0; i < c.iters; ++i) {
    auto a = Clock::now();
    step();
    if (c.device.is_cuda()) cuda::synchronize(c.device.index);
    sample.times.push_back(seconds(a, Clock::now()));
  }
  cpu_seconds = process_cpu_seconds() - cpu0;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, const std::vector<Tensor>& params) {
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(params);
  optim::SgdOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  return std::make_unique<optim::SGD>(params, so);
}

Result run_one(const Config& c, const std::string& name, const std::string& mode, int64_t size) {
  const bool train = mode == "train";
  const int64_t batch = train ? c.train_batch : c.eval_batch;
  Generator gen(1);
  auto model = models::make_model(name, kClasses, size, gen);
  model->to(c.device);
  Tensor x = Tensor::rand({batch, size, size, 3}, DType::f32, gen, -2, 2).to(c.device);
  std::vector<int64_t> labels(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) labels[size_t(i)] = i % kClasses;
  Tensor y = Tensor::from_vector(labels, {batch}).to(c.device);
  Sample sample;
  double flops = 0, cpu_seconds = 0;
  Result result;
  if (train) {
    model->train();
    auto opt = make_optimizer(c, model->parameters());
    opt->zero_grad();
    Graph g = Graph::capture([&] { return cross_entropy(model->forward(x), y); });
    g.set_always_accumulate(c.accumulate_grads);
    g.set_gradient_arena(c.grad_arena);
    flops = 3.0 * forward_flops(g);
    std::function<void()> step;
    if (c.eager) {
      g = Graph();  // the recording served the FLOP count; eager steps build their tape anew
      opt->zero_grad();
      step = [&] {
        opt->zero_grad();
        Tensor loss;
        {
          AutocastGuard autocast(c.amp == "bf16" ? DType::bf16 : DType::f32);
          loss = cross_entropy(model->forward(x), y);
        }
        backward(loss);
        opt->step();
      };
    } else {
      step = [&] {
        opt->zero_grad();
        g.forward();
        g.backward();
        opt->step();
      };
      g.backward();  // the capture ran the first forward
      opt->step();
    }
    for (int i = 0; i < c.warmup; ++i) step();
    if (c.device.is_cuda()) cuda::synchronize(c.device.index);
    time_steps(c, step, sample, cpu_seconds);
    if (c.profile) {
      auto* sgd = dynamic_cast<optim::SGD*>(opt.get());
      FER_CHECK(sgd, "bench_backbones: --profile runs with --optimizer sgd");
      for (int i = 0; i < c.iters; ++i) profiled_step(g, *sgd, result.profile);
      count_fork_joins(c.iters, step, result.fork_joins);
    }
  } else {
    model->eval();
    NoGradGuard no_grad;
    std::optional<nn::FoldedBatchNormScope> folded;
    if (c.fold) folded.emplace(*model);
    {
      // The FLOP count only. A capture keeps every op's output alive, so it runs on one image (conv and linear
      // FLOPs are linear in the batch): at full batch it would hold the whole forward's activations at once and
      // set the process's peak memory, not the eager forward that is timed.
      Tensor one = contiguous(slice(x, 0, 0, 1));
      Graph g = Graph::capture([&] { return model->forward(one); });
      flops = forward_flops(g) * double(batch);
    }
    for (int i = 0; i < c.warmup; ++i) model->forward(x);
    if (c.device.is_cuda()) cuda::synchronize(c.device.index);
    time_steps(c, [&] { Tensor logits = model->forward(x); }, sample, cpu_seconds);
    if (c.profile) {
      Graph g = Graph::capture([&] { return model->forward(x); });
      result.profile.training = false;
      for (int i = 0; i < c.iters; ++i) profiled_forward(g, result.profile);
    }
  }
  result.model = name;
  result.mode = mode;
  result.size = size;
  result.batch = batch;
  result.median_s = sample.median();
  result.best_s = sample.best();
  result.flops = flops;
  result.iters = c.iters;
  double wall = 0;
  for (double t : sample.times) wall += t;
  result.cpu_busy = c.device.is_cuda() ? NAN : cpu_seconds / (wall * num_threads());
  result.max_rss_mib = max_rss_mib();
  result.times = sample.times;
  return result;
}

}  // namespace

int program_main(int argc, char** argv) {
  try {
    Config c = parse(argc, argv);
    if (c.unfused) nn::fuse_bn_add_relu(false), models::densenet_in_place(false);
    if (c.unmerged_regions) set_region_merging(false);
    std::ofstream json;
    if (!c.json.empty()) {
      json.open(c.json, std::ios::app);
      FER_CHECK(json.good(), "bench_backbones: cannot open ", c.json, " for appending");
    }
    const char* header =
        "| model | mode | px | batch | median ms | best ms | images/s | GFLOP/s | cpu busy | max RSS MiB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::printf("device: %s; threads: %d%s%s%s%s%s%s\n%s", c.device.str().c_str(), num_threads(),
                c.eager ? "; eager" : "", c.amp == "bf16" ? "; amp bf16" : "", c.unfused ? "; unfused" : "",
                c.accumulate_grads ? "; gradients zero-filled and added" : "",
                c.unmerged_regions ? "; unmerged regions" : "",
                c.fold ? "; eval: batch norm folded" : "; eval: batch norm not folded", header);
    std::fflush(stdout);
    for (const auto& name : c.models)
      for (const auto& mode : c.modes)
        for (int64_t size : c.sizes) {
          Result r = run_one(c, name, mode, size);
          std::printf("| %s | %s | %lld | %lld | %.2f | %.2f | %.1f | %.1f | %.2f | %.0f |\n", r.model.c_str(),
                      r.mode.c_str(), (long long)r.size, (long long)r.batch, r.median_s * 1e3, r.best_s * 1e3,
                      double(r.batch) / r.median_s, r.flops / r.median_s * 1e-9, r.cpu_busy, r.max_rss_mib);
          if (r.profile.steps) {
            const std::string label = r.model + " " + r.mode + " " + std::to_string(r.size) + " px, batch " +
                                      std::to_string(r.batch) + (r.mode == "eval" && !c.fold ? ", unfolded" : "");
            print_profile(r.profile, label);
            if (r.profile.training) print_fork_joins(r.fork_joins, label);
            std::printf("\n%s", header);
          }
          std::fflush(stdout);
          if (json.is_open()) {
            json << "{\"impl\": \"fer\", \"model\": \"" << r.model << "\", \"mode\": \"" << r.mode
                 << "\", \"size\": " << r.size << ", \"batch\": " << r.batch << ", \"threads\": " << num_threads()
                 << ", \"median_s\": " << r.median_s << ", \"best_s\": " << r.best_s << ", \"flops\": " << r.flops
                 << ", \"iters\": " << r.iters << ", \"device\": \"" << c.device.str() << "\", \"amp\": \"" << c.amp
                 << "\", \"optimizer\": \"" << c.optimizer << "\", \"eager\": " << (c.eager ? "true" : "false")
                 << ", \"bn_folded\": " << (r.mode == "eval" && c.fold ? "true" : "false")
                 << ", \"cpu_busy\": " << (std::isnan(r.cpu_busy) ? std::string("null") : std::to_string(r.cpu_busy))
                 << ", \"max_rss_mib\": " << r.max_rss_mib << ", \"times_s\": [";
            for (size_t i = 0; i < r.times.size(); ++i) json << (i ? ", " : "") << r.times[i];
            json << "]}\n";
            json.flush();
          }
        }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace bench_backbones
