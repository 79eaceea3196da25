// Image files and image-folder datasets: PNG round trip, gray->RGB, corrupt and truncated files, and every
// folder layout FER datasets ship in.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <fstream>

#include "fer/data/image_folder.hpp"
#include "fer/io/image.hpp"

using namespace fer;

namespace {

std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_image_io" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

io::Image gradient(int64_t h, int64_t w, int64_t c) {
  io::Image img;
  img.height = h, img.width = w, img.channels = c;
  for (int64_t i = 0; i < h * w * c; ++i) img.pixels.push_back(uint8_t((i * 37 + 11) % 256));
  return img;
}

void touch_png(const std::filesystem::path& p) {
  std::filesystem::create_directories(p.parent_path());
  io::write_png(p, gradient(4, 5, 1));
}

}  // namespace

TEST_CASE("PNG round trip is lossless, gray converts to 3 equal channels") {
  auto dir = scratch("png");
  for (int c : {1, 3, 4}) {
    io::Image img = gradient(7, 9, c);
    auto p = dir / ("img" + std::to_string(c) + ".png");
    io::write_png(p, img);
    io::Image back = io::read_image(p);
    CHECK(back.height == 7);
    CHECK(back.width == 9);
    CHECK(back.channels == c);
    CHECK(back.pixels == img.pixels);
  }
  io::Image rgb = io::to_rgb(io::read_image(dir / "img1.png"));
  CHECK(rgb.channels == 3);
  CHECK(rgb.at(2, 3, 0) == rgb.at(2, 3, 2));
  CHECK(rgb.at(2, 3, 1) == gradient(7, 9, 1).at(2, 3, 0));
  io::Image rgba_as_rgb = io::to_rgb(io::read_image(dir / "img4.png"));
  CHECK(rgba_as_rgb.at(1, 1, 2) == gradient(7, 9, 4).at(1, 1, 2));
  // stb converts on request: 3-channel file read as 1 channel.
  CHECK(io::read_image(dir / "img3.png", 1).channels == 1);
}

TEST_CASE("corrupt, truncated, empty and missing image files are reported by name") {
  auto dir = scratch("bad");
  io::write_png(dir / "good.png", gradient(16, 16, 3));
  std::vector<uint8_t> bytes = io::read_bytes(dir / "good.png");
  std::ofstream(dir / "truncated.png", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 40);
  std::ofstream(dir / "noise.jpg", std::ios::binary) << "this is not an image at all";
  std::ofstream(dir / "empty.png", std::ios::binary);
  CHECK_THROWS_WITH_AS(io::read_image(dir / "truncated.png"), doctest::Contains("truncated.png: corrupt image"), Error);
  CHECK_THROWS_WITH_AS(io::read_image(dir / "noise.jpg"), doctest::Contains("noise.jpg: not a readable"), Error);
  CHECK_THROWS_WITH_AS(io::read_image(dir / "empty.png"), doctest::Contains("empty.png: empty file"), Error);
  CHECK_THROWS_WITH_AS(io::read_image(dir / "missing.png"), doctest::Contains("missing.png: no such file"), Error);
  CHECK_THROWS_WITH_AS(io::write_png("/nonexistent_dir/x.png", gradient(2, 2, 1)), doctest::Contains("x.png': cannot create temporary file"), Error);
}

TEST_CASE("image folders: canonical, Kaggle, images/validation, numbered, unsplit") {
  auto root = scratch("canonical");
  touch_png(root / "train" / "happy" / "b.png");
  touch_png(root / "train" / "happy" / "a.png");
  touch_png(root / "train" / "Angry" / "x.jpg");  // extension decides, not content
  touch_png(root / "val" / "sad" / "v.png");
  touch_png(root / "test" / "surprise" / "t.png");
  std::ofstream(root / "train" / "happy" / "notes.txt") << "x";
  data::FolderSplits s = data::read_image_folder(root);
  CHECK(s.layout == "{train,val,test}");
  REQUIRE(s.train.size() == 3);
  CHECK(s.train[0].label == 0);  // Angry -> angry
  CHECK(s.train[1].path.filename() == "a.png");  // sorted
  CHECK(s.train[1].label == 3);
  CHECK(s.val.size() == 1);
  CHECK(s.val[0].label == 4);
  CHECK(s.test[0].label == 5);
  CHECK(s.ignored.size() == 1);

  auto kaggle = scratch("kaggle");
  touch_png(kaggle / "train" / "disgusted" / "1.png");
  touch_png(kaggle / "test" / "fearful" / "2.png");
  s = data::read_image_folder(kaggle);
  CHECK(s.layout == "{train,test}");
  CHECK(s.train[0].label == 1);
  CHECK(s.test[0].label == 2);
  CHECK(s.val.empty());

  auto images = scratch("images");
  touch_png(images / "images" / "train" / "neutral" / "1.png");
  touch_png(images / "images" / "validation" / "happiness" / "2.png");
  s = data::read_image_folder(images);
  CHECK(s.layout == "images/{train,validation}");
  CHECK(s.train[0].label == 6);
  CHECK(s.val[0].label == 3);

  auto numbered = scratch("numbered");
  touch_png(numbered / "train" / "7" / "1.png");
  touch_png(numbered / "train" / "0" / "2.png");
  s = data::read_image_folder(numbered, data::affectnet_class_names());
  CHECK(s.train.size() == 2);
  CHECK(s.train[0].label == 0);
  CHECK(s.train[1].label == 7);
  CHECK(s.class_names[7] == "contempt");
  CHECK_THROWS_WITH_AS(data::read_image_folder(numbered), doctest::Contains("class number 7 has no name"), Error);

  auto flat = scratch("flat");
  touch_png(flat / "happy" / "1.png");
  s = data::read_image_folder(flat);
  CHECK(s.layout == "<class>");
  CHECK(s.train.size() == 1);
}

TEST_CASE("image folders: unknown class folder, empty and missing roots") {
  auto root = scratch("unknown");
  touch_png(root / "train" / "bored" / "1.png");
  CHECK_THROWS_WITH_AS(data::read_image_folder(root), doctest::Contains("'bored' is not one of"), Error);
  auto empty = scratch("empty");
  std::filesystem::create_directories(empty / "train" / "happy");
  CHECK_THROWS_WITH_AS(data::read_image_folder(empty), doctest::Contains("no images found"), Error);
  CHECK_THROWS_WITH_AS(data::read_image_folder("/nonexistent/root"), doctest::Contains("no such directory"), Error);
}

namespace {

// Encodes `img` with one of stb's writers into memory.
template <class Writer>
std::vector<uint8_t> encode(Writer write, const io::Image& img) {
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  REQUIRE(write(sink, &out, int(img.width), int(img.height), int(img.channels), img.pixels.data()));
  return out;
}

void put_be16(std::vector<uint8_t>& b, size_t at, uint32_t v) { b[at] = uint8_t(v >> 8), b[at + 1] = uint8_t(v); }
void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) { put_be16(b, at, v >> 16), put_be16(b, at + 2, v); }
void put_le32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + size_t(k)] = uint8_t(v >> (8 * k));
}

}  // namespace

// Issue 15 (9d): a JPEG of under 1 KB declaring 16384x16384 pixels was decoded in full (8-17 s, 1.6-2.1 GB): a
// per-side cap is not a pixel budget. Now width x height x channels is checked from the header of every format.
TEST_CASE("an image header declaring more pixels than the budget is refused before decoding, in every format") {
  const io::Image small = gradient(8, 8, 1), small_rgb = gradient(8, 8, 3);
  auto jpg = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) { return stbi_write_jpg_to_func(f, c, w, h, n, d, 90); };
  auto bmp = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) { return stbi_write_bmp_to_func(f, c, w, h, n, d); };
  auto png = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) { return stbi_write_png_to_func(f, c, w, h, n, d, w * n); };

  // JPEG (stb writes three components): the SOF0 segment holds height and width (big-endian) after its length
  // and precision.
  std::vector<uint8_t> j = encode(jpg, small);
  REQUIRE(io::decode_image(j, "small.jpg").width == 8);
  size_t sof = 0;
  for (size_t i = 2; i + 9 < j.size() && !sof; ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xC0) sof = i;
  REQUIRE(sof > 0);
  put_be16(j, sof + 5, 16384), put_be16(j, sof + 7, 16384);
  CHECK(j.size() < 1024);
  CHECK_THROWS_WITH_AS(io::decode_image(j, "huge.jpg"),
                       doctest::Contains("huge.jpg: JPEG header declares 16384x16384x3 pixels (805306368 bytes decoded), "
                                         "more than the budget of 134217728 bytes"),
                       Error);
  // PNG: IHDR's width and height at bytes 16 and 20 (stb does not check the CRC).
  std::vector<uint8_t> p = encode(png, small_rgb);
  put_be32(p, 16, 8192), put_be32(p, 20, 8192);
  CHECK_THROWS_WITH_AS(io::decode_image(p, "huge.png"), doctest::Contains("huge.png: PNG header declares 8192x8192x3"), Error);
  // BMP: the info header's width and height at bytes 18 and 22 (little-endian).
  std::vector<uint8_t> b = encode(bmp, small_rgb);
  REQUIRE(io::decode_image(b, "small.bmp").pixels == small_rgb.pixels);
  put_le32(b, 18, 8192), put_le32(b, 22, 6000);
  CHECK_THROWS_WITH_AS(io::decode_image(b, "huge.bmp"), doctest::Contains("huge.bmp: BMP header declares 8192x6000x3"), Error);
  // The budget is the caller's to set; a conversion to more channels counts.
  const std::vector<uint8_t> ok = encode(png, small);
  CHECK(io::decode_image(ok, "a.png", 4, 256).channels == 4);
  CHECK_THROWS_WITH_AS(io::decode_image(ok, "a.png", 4, 255), doctest::Contains("8x8x1 pixels (256 bytes decoded)"), Error);
}

TEST_CASE("only PNG, JPEG and BMP are decoded: stb's other decoders (TGA, ...) are not reachable from a file") {
  auto tga = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) { return stbi_write_tga_to_func(f, c, w, h, n, d); };
  const std::vector<uint8_t> t = encode(tga, gradient(4, 4, 3));
  CHECK_THROWS_WITH_AS(io::decode_image(t, "face.tga"), doctest::Contains("face.tga: not a readable PNG/JPEG/BMP image"), Error);
}

// Found by reading stb's decoders for work beyond the header's size (issue 15, 9d's class): a PNG's data inflated
// into a growing buffer (400 KB of deflated zeros made 400 MB for an 8x8 image), and a JPEG made stb pass over all
// coefficients once per scan, a few bytes each. Both are measured before decoding.
TEST_CASE("a PNG whose data inflates far beyond its pixels, and a JPEG of many scans, are refused before decoding") {
  // An 8x8 RGB PNG whose IDAT holds 16 MiB of deflated zeros (about 16 KB).
  std::vector<uint8_t> zeros(size_t(16) << 20, 0), deflated(compressBound(uLong(zeros.size())));
  uLongf n = uLongf(deflated.size());
  REQUIRE(compress2(deflated.data(), &n, zeros.data(), uLong(zeros.size()), 9) == Z_OK);
  deflated.resize(n);
  auto chunk = [](std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> c(4, 0);
    put_be32(c, 0, uint32_t(data.size()));
    c.insert(c.end(), type, type + 4);
    c.insert(c.end(), data.begin(), data.end());
    const uLong crc = crc32(0, c.data() + 4, uInt(c.size() - 4));
    c.resize(c.size() + 4);
    put_be32(c, c.size() - 4, uint32_t(crc));
    png.insert(png.end(), c.begin(), c.end());
  };
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr(13, 0);
  put_be32(ihdr, 0, 8), put_be32(ihdr, 4, 8), ihdr[8] = 8, ihdr[9] = 2;  // 8x8, 8-bit RGB
  chunk(png, "IHDR", ihdr), chunk(png, "IDAT", deflated), chunk(png, "IEND", {});
  CHECK(png.size() < 40000);
  CHECK_THROWS_WITH_AS(io::decode_image(png, "bomb.png"),
                       doctest::Contains("bomb.png: PNG image data inflates to more than the 632 bytes that 8x8 pixels can use"),
                       Error);
  // The same image with exactly its 8 rows of (filter byte + 24 bytes) reads.
  std::vector<uint8_t> rows(8 * 25, 7), small(compressBound(uLong(rows.size())));
  for (size_t r = 0; r < 8; ++r) rows[r * 25] = 0;
  n = uLongf(small.size());
  REQUIRE(compress2(small.data(), &n, rows.data(), uLong(rows.size()), 9) == Z_OK);
  small.resize(n);
  std::vector<uint8_t> ok = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  chunk(ok, "IHDR", ihdr), chunk(ok, "IDAT", small), chunk(ok, "IEND", {});
  const io::Image img = io::decode_image(ok, "ok.png");
  CHECK(img.pixels == std::vector<uint8_t>(8 * 8 * 3, 7));

  // A baseline JPEG declared 4096x4096 (48 MiB decoded, within the budget) with its scan repeated 50 times.
  auto jpg = [](stbi_write_func* f, void* c, int w, int h, int k, const void* d) { return stbi_write_jpg_to_func(f, c, w, h, k, d, 90); };
  std::vector<uint8_t> j = encode(jpg, gradient(8, 8, 3));
  size_t sof = 0, sos = 0;
  for (size_t i = 2; i + 1 < j.size(); ++i) {
    if (j[i] == 0xFF && j[i + 1] == 0xC0 && !sof) sof = i;
    if (j[i] == 0xFF && j[i + 1] == 0xDA && !sos) sos = i;
  }
  REQUIRE((sof && sos && j.size() > sos + 2));
  put_be16(j, sof + 5, 4096), put_be16(j, sof + 7, 4096);
  const std::vector<uint8_t> scan(j.begin() + std::ptrdiff_t(sos), j.end() - 2);  // SOS .. before EOI
  std::vector<uint8_t> many(j.begin(), j.end() - 2);
  for (int k = 0; k < 50; ++k) many.insert(many.end(), scan.begin(), scan.end());
  many.push_back(0xFF), many.push_back(0xD9);
  CHECK(many.size() < 40000);
  CHECK_THROWS_WITH_AS(io::decode_image(many, "scans.jpg"),
                       doctest::Contains("scans.jpg: JPEG of 4096x4096 pixels has 51 scans, more decoding work than the budget allows"),
                       Error);
}
