// extract_grid: synthetic faces cut from generator grid images (the reference thesis's 1024x1024 grids of 6x6
// faces): every grid under IN/<class>/ becomes OUT/<class>/<grid>_r<row>c<col>.png at --size, blank or nearly
// constant cells rejected (listed).
//   extract_grid --in grids/ --out synthetic/ --rows 6 --cols 6 --size 128
#include <CLI/CLI.hpp>

#include <cstdio>

#include "fer/data/grid.hpp"

using namespace fer;

int main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CLI::App app{"Cut labelled faces out of generator grid images"};
  std::string in, out;
  data::GridOptions opt;
  bool list = false;
  app.add_option("--in", in, "grid images in <class>/ folders")->required();
  app.add_option("--out", out, "output image-folder dataset")->required();
  app.add_option("--rows", opt.rows);
  app.add_option("--cols", opt.cols);
  app.add_option("--size", opt.out_size, "output side (0: keep the cell size)");
  app.add_option("--min_std", opt.min_pixel_std, "reject cells whose pixel standard deviation is below this");
  app.add_flag("--list_rejected", list);
  CLI11_PARSE(app, argc, argv);
  try {
    data::GridFolderReport r = data::extract_grid_folder(in, out, opt);
    std::printf("extract_grid: %lld grids -> %lld faces in %s, %lld cells rejected\n", (long long)r.grids, (long long)r.faces,
                out.c_str(), (long long)r.rejected);
    if (list)
      for (const auto& line : r.rejected_cells) std::printf("  rejected %s\n", line.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "extract_grid: error: %s\n", e.what());
    return 1;
  }
}
