// Writes a labelled synthetic dataset from a class-conditional StyleGAN2-ADA generator (NVIDIA .pkl or safetensors):
//   generate --generator G.pkl --classes all --per-class 100 --seeds 0-99 --trunc 0.7 --size 64 --out synth/
// gives synth/<class>/seed000042.png, synth/manifest.csv (file,class,seed,psi) and synth/preview.png. z for seed s
// is NumPy's RandomState(s).randn(z_dim), as NVIDIA's generate.py draws it, so seeds mean the same faces.
//   generate --generator G.pkl --io IO.safetensors --dump OUT.safetensors
// runs the z and c stored in IO.safetensors and writes ws and img (NCHW, f32) for verification.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/cli/program.hpp"
#include "fer/core/numpy_random.hpp"
#include "fer/data/fer2013.hpp"
#include "fer/data/resize.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/image.hpp"
#include "fer/io/safetensors.hpp"
#include "models/stylegan2.hpp"

namespace generate_program {

using namespace fer;

namespace {

std::pair<int64_t, int64_t> parse_range(const std::string& s) {
  long long a = 0, b = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%lld-%lld%c", &a, &b, &extra) == 2 && a >= 0 && b >= a) return {a, b};
  if (std::sscanf(s.c_str(), "%lld%c", &a, &extra) == 1 && a >= 0) return {a, a};
  fail("--seeds '", s, "': expected A-B or A (non-negative, A <= B)");
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// u8 [H, W, C] -> 1 channel with PIL's ITU-R 601-2 luma (L = R*299/1000 + G*587/1000 + B*114/1000).
io::Image to_gray(const io::Image& in) {
  if (in.channels == 1) return in;
  io::Image out;
  out.height = in.height, out.width = in.width, out.channels = 1;
  out.pixels.resize(size_t(in.height * in.width));
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint8_t* p = in.pixels.data() + i * size_t(in.channels);
    out.pixels[i] = uint8_t((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return out;
}

int run_dump(const models::Stylegan2Generator& G, const std::string& io_path, const std::string& out, double psi,
             int64_t cutoff, models::NoiseMode noise) {
  io::SafetensorsFile in(io_path);
  Tensor z = in.load("z");
  Tensor c = in.contains("c") ? in.load("c") : Tensor();
  Tensor ws = G.mapping(z, c, psi, cutoff);
  Tensor img = G.synthesis(ws, noise);
  io::save_safetensors(out, {{"ws", ws}, {"img", nhwc_to_nchw(img)}}, {{"psi", std::to_string(psi)}});
  std::printf("generate: wrote ws %s and img %s to %s\n", ws.shape().str().c_str(), img.shape().str().c_str(), out.c_str());
  return 0;
}

struct GenerateFlags {
  std::string generator, classes = "all", seeds = "0-9", noise_mode = "const", out, io_path, dump, class_names;
  int64_t per_class = 10, size = 64, cutoff = -1, batch = 8;
  double psi = 0.7;
  bool grayscale = false;
};

void add_flags(CLI::App& app, GenerateFlags& f) {
  app.add_option("--generator", f.generator, "NVIDIA network pickle (.pkl) or safetensors with G_ema")->required();
  app.add_option("--classes", f.classes, "'all' or class names separated by commas");
  app.add_option("--class-names", f.class_names, "names of the generator's classes in label order (default: FER2013's seven)");
  app.add_option("--per-class", f.per_class, "images per class (seeds taken in order from --seeds)");
  app.add_option("--seeds", f.seeds, "seed range A-B");
  app.add_option("--trunc", f.psi, "truncation psi");
  app.add_option("--trunc-cutoff", f.cutoff, "truncate only the first N ws (default: all)");
  app.add_option("--noise-mode", f.noise_mode, "const, random or none");
  app.add_option("--size", f.size, "output side in pixels (48, 64, 128, 224, ...)");
  app.add_flag("--grayscale", f.grayscale, "write 1-channel images (FER2013 is grayscale)");
  app.add_option("--batch", f.batch, "images per generator call");
  app.add_option("--out", f.out, "output directory");
  app.add_option("--io", f.io_path, "safetensors with z (and c) to run instead of seeds");
  app.add_option("--dump", f.dump, "with --io: where to write ws and img");
}

// What the dataset holds: the generator's class names, the classes wanted (indices) and the first seed.
struct DatasetPlan {
  std::vector<std::string> names;
  std::vector<int64_t> wanted;
  int64_t seed_lo = 0;
};

DatasetPlan plan_dataset(const GenerateFlags& f, const models::Stylegan2Config& cfg) {
  FER_CHECK(!f.out.empty(), "--out DIR is required");
  FER_CHECK(f.size >= 8 && f.size <= 4096, "--size ", f.size, " is out of range");
  FER_CHECK(f.per_class >= 1 && f.batch >= 1, "--per-class and --batch must be >= 1");
  DatasetPlan p;
  p.names = f.class_names.empty() ? data::fer2013_class_names() : split_list(f.class_names);
  if (cfg.c_dim == 0) p.names = {"unlabeled"};
  FER_CHECK(cfg.c_dim == 0 || int64_t(p.names.size()) == cfg.c_dim, f.generator, " has ", cfg.c_dim, " classes but ",
            p.names.size(), " class names are given (use --class-names)");
  if (f.classes == "all") {
    for (size_t k = 0; k < p.names.size(); ++k) p.wanted.push_back(int64_t(k));
  } else {
    for (const std::string& n : split_list(f.classes)) {
      auto it = std::find(p.names.begin(), p.names.end(), n);
      FER_CHECK(it != p.names.end(), "--classes: '", n, "' is not a class of the generator");
      p.wanted.push_back(int64_t(it - p.names.begin()));
    }
  }
  auto [seed_lo, seed_hi] = parse_range(f.seeds);
  FER_CHECK(seed_hi - seed_lo + 1 >= f.per_class, "--seeds ", f.seeds, " holds ", seed_hi - seed_lo + 1,
            " seeds, fewer than --per-class ", f.per_class);
  p.seed_lo = seed_lo;
  return p;
}

// The images of one class into OUT/<class>/ (rows of the manifest, the first few into the preview's row `row`).
int64_t write_class(const models::Stylegan2Generator& G, const GenerateFlags& f, const DatasetPlan& p, size_t row,
                    models::NoiseMode noise, std::string& manifest, io::Image& preview) {
  const auto& cfg = G.config();
  const int64_t cls = p.wanted[row], size = f.size, cols = std::min<int64_t>(f.per_class, 8);
  const std::string& name = p.names[size_t(cls)];
  auto dir = std::filesystem::path(f.out) / name;
  std::filesystem::create_directories(dir);
  int64_t written = 0;
  for (int64_t start = 0; start < f.per_class; start += f.batch) {
    int64_t b = std::min(f.batch, f.per_class - start);
    Tensor z = Tensor::empty({b, cfg.z_dim});
    Tensor c = Tensor::zeros({b, std::max<int64_t>(cfg.c_dim, 1)});
    for (int64_t i = 0; i < b; ++i) {
      NumpyRandomState rs(uint32_t(p.seed_lo + start + i));
      for (int64_t d = 0; d < cfg.z_dim; ++d) z.set_flat(i * cfg.z_dim + d, rs.randn());
      if (cfg.c_dim > 0) c.set_flat(i * cfg.c_dim + cls, 1.0);
    }
    Generator noise_gen(uint64_t(p.seed_lo + start));
    Tensor img = G.generate(z, cfg.c_dim > 0 ? c : Tensor(), f.psi, f.cutoff, noise, noise_gen);
    std::vector<uint8_t> px = models::Stylegan2Generator::to_pixels(img);
    Tensor u8 = Tensor::from_vector<uint8_t>(px, img.shape());
    Tensor resized = size == cfg.img_resolution ? u8 : data::resize_bilinear(u8, size, size, true);
    for (int64_t i = 0; i < b; ++i) {
      io::Image im;
      im.height = im.width = size, im.channels = cfg.img_channels;
      const uint8_t* src = resized.data<uint8_t>() + i * size * size * cfg.img_channels;
      im.pixels.assign(src, src + size * size * cfg.img_channels);
      if (f.grayscale) im = to_gray(im);
      char file[64];
      std::snprintf(file, sizeof(file), "seed%06lld.png", (long long)(p.seed_lo + start + i));
      io::write_png(dir / file, im);
      manifest += name + "/" + file + "," + name + "," + std::to_string(p.seed_lo + start + i) + "," +
                  std::to_string(f.psi) + "\n";
      int64_t col = start + i;
      if (col < cols)
        for (int64_t y = 0; y < size; ++y)
          std::copy(im.row(y), im.row(y) + size * im.channels, preview.row(int64_t(row) * size + y) + col * size * im.channels);
      ++written;
    }
  }
  std::printf("generate: %s: %lld images\n", name.c_str(), (long long)f.per_class);
  return written;
}

// OUT/<class>/seedNNNNNN.png for every wanted class, manifest.csv and preview.png.
int write_dataset(const models::Stylegan2Generator& G, const GenerateFlags& f, const DatasetPlan& p, models::NoiseMode noise) {
  std::filesystem::create_directories(f.out);
  std::string manifest = "file,class,seed,psi\n";
  io::Image preview;
  preview.height = f.size * int64_t(p.wanted.size()), preview.width = f.size * std::min<int64_t>(f.per_class, 8);
  preview.channels = f.grayscale ? 1 : G.config().img_channels;
  preview.pixels.assign(size_t(preview.height * preview.width * preview.channels), 0);
  auto t0 = std::chrono::steady_clock::now();
  int64_t written = 0;
  for (size_t row = 0; row < p.wanted.size(); ++row) written += write_class(G, f, p, row, noise, manifest, preview);
  io::write_file_atomically(std::filesystem::path(f.out) / "manifest.csv", manifest);
  io::write_png(std::filesystem::path(f.out) / "preview.png", preview);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("generate: %lld images in %.1f s (%.1f images/s) -> %s (manifest.csv, preview.png)\n", (long long)written, s,
              double(written) / s, f.out.c_str());
  return 0;
}

}  // namespace

int program_main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Synthesize a labelled FER image-folder dataset with a class-conditional StyleGAN2-ADA generator");
  CLI::App& app = *app_owner;
  GenerateFlags flags;
  add_flags(app, flags);
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    auto G = models::Stylegan2Generator::load(flags.generator);
    models::NoiseMode noise = models::parse_noise_mode(flags.noise_mode);
    if (!flags.io_path.empty()) {
      FER_CHECK(!flags.dump.empty(), "--io needs --dump OUT.safetensors");
      return run_dump(G, flags.io_path, flags.dump, flags.psi, flags.cutoff, noise);
    }
    return write_dataset(G, flags, plan_dataset(flags, G.config()), noise);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "generate: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace generate_program
