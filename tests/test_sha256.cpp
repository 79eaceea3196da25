// SHA-256 against the FIPS 180-2 example vectors and against coreutils' sha256sum on a file of odd length.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "fer/io/sha256.hpp"

using namespace fer;

TEST_CASE("SHA-256 gives the FIPS 180-2 example digests") {
  CHECK(io::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(io::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(io::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in pieces that straddle block boundaries.
  io::Sha256 s;
  std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left) {
    size_t n = std::min(left, chunk.size());
    s.update(chunk.data(), n);
    left -= n;
  }
  CHECK(s.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256_file agrees with sha256sum") {
  auto path = std::filesystem::temp_directory_path() / "fer_test_sha256.bin";
  std::string bytes;
  for (int i = 0; i < 3 * 1048576 + 77; ++i) bytes += char((i * 131 + i / 7) & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;
  std::string cmd = "sha256sum '" + path.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char out[65] = {};
  REQUIRE(std::fread(out, 1, 64, p) == 64);
  pclose(p);
  CHECK(io::sha256_file(path) == std::string(out));
  CHECK(io::sha256_hex(bytes) == std::string(out));
  CHECK_THROWS_WITH_AS(io::sha256_file(path.string() + ".missing"), doctest::Contains("cannot open"), Error);
}
