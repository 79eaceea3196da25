// extract_grid: synthetic faces cut from generator grid images (the reference thesis's 1024x1024 grids of 6x6
// faces, text-to-image grids with gutters and borders): every grid under IN/<class>/ becomes
// OUT/<class>/<grid>_r<row>c<col>.png at --size. The cell boundaries are found in each image (uniform gutters and
// borders), or given by --gutter/--margin; a grid whose rows or columns cannot be found is reported and skipped,
// the batch goes on, and the exit status is 1 when any grid failed. Blank or nearly constant cells are rejected.
//   extract_grid --in grids/ --out synthetic/ --rows 6 --cols 6 --size 128
//   extract_grid --in grids/ --out synthetic/ --rows 6 --cols 6 --gutter 0 --margin 0   # seamless grids
#include <cstdio>

#include "fer/cli/program.hpp"
#include "fer/data/grid.hpp"
#include "fer/data/sources.hpp"

namespace extract_grid_program {

using namespace fer;

int program_main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Cut labelled faces out of generator grid images");
  CLI::App& app = *app_owner;
  std::string in, out, label_space;
  data::GridOptions opt;
  bool list = false;
  app.add_option("--in", in, "grid images in <class>/ folders")->required();
  app.add_option("--out", out, "output image-folder dataset")->required();
  app.add_option("--rows", opt.rows, "faces per column (0: as many as found)")->capture_default_str();
  app.add_option("--cols", opt.cols, "faces per row (0: as many as found)")->capture_default_str();
  app.add_option("--size", opt.out_size, "output side (0: keep the cell size)")->capture_default_str();
  app.add_option("--min_std", opt.min_pixel_std, "reject cells whose pixel standard deviation is below this")->capture_default_str();
  app.add_option("--gutter", opt.gutter, "pixels between cells (default: found in each image)");
  app.add_option("--margin", opt.margin, "pixels of border around the grid (default: found in each image)");
  app.add_option("--uniform_std", opt.uniform_std, "pixel rows/columns with a standard deviation below this are gutter")
      ->capture_default_str();
  app.add_option("--label_space", label_space, "fer2013, affectnet, ferplus or custom:a,b,... (needed for numbered folders)");
  app.add_flag("--list_rejected", list);
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    data::LabelSpace space = data::folder_label_space(in, label_space);
    data::GridFolderReport r = data::extract_grid_folder(in, out, opt, space.classes);
    std::printf("extract_grid: %lld grids -> %lld faces in %s, %lld cells rejected, %zu grids failed\n", (long long)r.grids,
                (long long)r.faces, out.c_str(), (long long)r.rejected, r.failed.size());
    if (list)
      for (const auto& line : r.rejected_cells) std::printf("  rejected %s\n", line.c_str());
    for (const auto& line : r.failed) std::fprintf(stderr, "extract_grid: failed: %s\n", line.c_str());
    return r.failed.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "extract_grid: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace extract_grid_program
