#!/usr/bin/env bash
# Installs the Debian packages fer builds and tests with (only those missing; apt-get update only when needed).
#   tools/install_deps.sh            build + test + the Fashion-MNIST data of the embedded default job
#   tools/install_deps.sh --tools    also the Python side used by tools/*.py (PyTorch, torchvision, scikit-learn)
# CUDA is not installed here: the CUDA backend is built when a toolkit with cuDNN is found at /usr/local/cuda.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libeigen3-dev      # CPU GEMM
  doctest-dev        # tests
  libstb-dev         # PNG/BMP decode, PNG encode
  libjpeg-dev        # JPEG decode (libjpeg-turbo)
  libcli11-dev       # command lines
  nlohmann-json3-dev # json
  zlib1g-dev         # gzip'd idx files, PNG
  libbenchmark-dev   # bench/
  libcairo2-dev      # plots
  libyaml-cpp-dev    # sweep configuration
  libzip-dev         # PyTorch .pt/.pth checkpoints (zip format)
  libdlib-dev        # face detection for predict --detect-faces (optional at build time)
  fonts-dejavu-core  # chart text
  clang libclang-rt-dev libomp-dev  # fuzz targets (tools/run_fuzz.sh: libFuzzer, ASan, UBSan; OpenMP for clang)
  dataset-fashion-mnist
)
if [[ "${1:-}" == "--tools" ]]; then
  packages+=(python3-torch python3-torchvision python3-numpy python3-sklearn python3-scipy python3-pil
             python3-skimage)  # sample photos with faces (tools/make_photo_fixtures.py)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
