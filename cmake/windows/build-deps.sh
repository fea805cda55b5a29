#!/usr/bin/env bash
# Builds the libraries easgate links on Windows, static, with mingw-w64, from Debian's source
# packages (`apt-get source`), once: into a cache outside the checkout, keyed by this script,
# its patches, the cross compiler and the source versions. A second run finds the cache and
# builds nothing. Prints the prefix (include/, lib/, lib/cmake/) as its last line.
#
#   EASGATE_WINDOWS_CACHE  where the prefixes live (default /var/cache/easgate/windows-deps)
#   --print-prefix         print the prefix this script would build, and build nothing
#
# What is built, and how:
#   OpenSSL    ./Configure mingw64, no-shared
#   SQLite     the amalgamation generated natively (needs tclsh), compiled with mingw
#   pugixml, fmt, spdlog, CLI11, GoogleTest   their own CMake builds, static
#   Boost      Debian's 1.74 headers (libboost-dev) and Boost.Filesystem's sources, compiled
#   cpprestsdk its Asio client only, with cpprest-mingw.patch (see the patch's header)
# Needs deb-src entries for apt; .ci/build-windows makes them from the machine's own sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jobs=$(nproc)
target=x86_64-w64-mingw32
cc=$target-gcc-posix
cxx=$target-g++-posix

packages=(openssl sqlite3 pugixml fmtlib spdlog cli11 cpprest boost1.74)

# The newest version apt lists may not be served yet; fall back through the listed versions.
source_version() {
  apt-cache showsrc "$1" | sed -n 's/^Version: //p' | sort -V -r
}

key=$(
  {
    cat "$here/build-deps.sh" "$here"/*.patch "$here/mingw-w64.cmake"
    $cxx --version | head -n 1
    dpkg-query -W libboost1.74-dev googletest
    for p in "${packages[@]}"; do echo "$p $(source_version "$p" | head -n 1)"; done
  } | sha256sum | cut -c1-16
)
cache=${EASGATE_WINDOWS_CACHE:-/var/cache/easgate/windows-deps}
prefix=$cache/$key
if [ "${1:-}" = "--print-prefix" ]; then
  echo "$prefix"
  exit 0
fi
if [ -f "$prefix/.complete" ]; then
  echo "windows deps: cached in $prefix" >&2
  echo "$prefix"
  exit 0
fi

# Installed CMake packages name absolute paths, so the prefix is built where it stays. Each
# library that built leaves a stamp; an interrupted build goes on from the first without one,
# and the prefix counts only once .complete is written.
work=$cache/work-$key
stage=$prefix
mkdir -p "$work/src" "$stage/include" "$stage/lib"
log=$work/build.log
echo "windows deps: building into $prefix (log: $log)" >&2
step() {
  local name=$1 started=$SECONDS
  shift
  printf 'windows deps: %-12s' "$name" >&2
  if [ -f "$stage/.built-$name" ]; then
    echo " built before" >&2
    return 0
  fi
  rm -rf "$work/src" && mkdir -p "$work/src"
  if ! ("$@") >>"$log" 2>&1; then
    echo " FAILED; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  touch "$stage/.built-$name"
  echo " $((SECONDS - started)) s" >&2
}

fetch() { # fetch NAME [--download-only]: Debian's source, unpacked with Debian's patches
  local name=$1 version
  shift
  cd "$work/src"
  for version in $(source_version "$name"); do
    if apt-get source -q "$@" "$name=$version"; then return 0; fi
  done
  echo "no version of the source package $name could be fetched" >&2
  return 1
}

cmake_build() { # cmake_build SOURCE_DIR [CMAKE ARGS...]
  local src=$1
  shift
  cmake -S "$src" -B "$src/build-windows" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$here/mingw-w64.cmake" -DEASGATE_WINDOWS_DEPS="$stage" \
    -DCMAKE_INSTALL_PREFIX="$stage" -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=OFF \
    "$@"
  cmake --build "$src/build-windows" -j "$jobs"
  cmake --install "$src/build-windows"
}

build_openssl() {
  fetch openssl
  cd "$work/src"/openssl-*/
  ./Configure mingw64 --cross-compile-prefix=$target- no-shared no-tests \
    --prefix="$stage" --libdir=lib
  make -j "$jobs" build_libs
  make install_dev
}

build_sqlite() {
  fetch sqlite3
  cd "$work/src"/sqlite3-*/
  mkdir -p amalgamation && cd amalgamation
  ../configure --disable-tcl
  make sqlite3.c
  # Thread-safe (serialized) as Debian's; JSON functions are built in since 3.38.
  $cc -O2 -DSQLITE_THREADSAFE=1 -c sqlite3.c -o sqlite3.o
  $target-ar rcs "$stage/lib/libsqlite3.a" sqlite3.o
  cp sqlite3.h sqlite3ext.h "$stage/include/"
}

build_pugixml() {
  fetch pugixml
  cmake_build "$(echo "$work/src"/pugixml-*/)" -DPUGIXML_BUILD_TESTS=OFF
}

build_fmt() {
  fetch fmtlib
  cmake_build "$(echo "$work/src"/fmtlib-*/)" -DFMT_TEST=OFF -DFMT_DOC=OFF
}

build_spdlog() {
  fetch spdlog
  cmake_build "$(echo "$work/src"/spdlog-*/)" -DSPDLOG_FMT_EXTERNAL=ON -DSPDLOG_BUILD_EXAMPLE=OFF \
    -DSPDLOG_BUILD_TESTS=OFF -DSPDLOG_BUILD_BENCH=OFF
}

build_cli11() {
  fetch cli11
  cmake_build "$(echo "$work/src"/cli11-*/)" -DCLI11_BUILD_TESTS=OFF -DCLI11_BUILD_EXAMPLES=OFF \
    -DCLI11_BUILD_DOCS=OFF
}

build_googletest() {
  # The googletest package ships its source in /usr/src; it is copied, never built in place.
  cp -r /usr/src/googletest "$work/src/googletest"
  cmake_build "$work/src/googletest" -Dgtest_disable_pthreads=OFF
}

build_boost() {
  # Boost is header-only but for Boost.Filesystem, which Boost.Process needs: Debian's 1.74
  # headers are used as they are, and the library is compiled from the same release's source.
  ln -sfn /usr/include/boost "$stage/include/boost"
  fetch boost1.74 --download-only
  cd "$work/src"
  tar xf boost1.74_*.orig.tar.xz --wildcards 'boost/libs/filesystem/src/*'
  mkdir -p boost-filesystem && cd boost-filesystem
  for f in ../boost/libs/filesystem/src/*.cpp; do
    $cxx -std=c++20 -O2 -include utility -I"$stage/include" -DBOOST_FILESYSTEM_STATIC_LINK=1 \
      -DBOOST_FILESYSTEM_SOURCE -c "$f" -o "$(basename "$f" .cpp).o" &
  done
  wait
  $target-ar rcs "$stage/lib/libboost_filesystem.a" ./*.o
}

build_cpprest() {
  fetch cpprest
  local src
  src=$(echo "$work/src"/cpprest-*/)
  patch -d "$src" -p1 <"$here/cpprest-mingw.patch"
  cmake_build "$src" -DCPPREST_HTTP_CLIENT_IMPL=asio -DCPPREST_PPLX_IMPL=winpplx \
    -DCPPREST_HTTP_LISTENER_IMPL=none -DCPPREST_EXCLUDE_WEBSOCKETS=ON \
    -DCPPREST_EXCLUDE_COMPRESSION=ON -DCPPREST_EXCLUDE_BROTLI=ON -DCPPREST_FILEIO_IMPL=none \
    -DBUILD_TESTS=OFF \
    -DBUILD_SAMPLES=OFF -DWERROR=OFF -DBoost_USE_STATIC_LIBS=ON -DOPENSSL_USE_STATIC_LIBS=ON
}

step openssl build_openssl
step sqlite build_sqlite
step pugixml build_pugixml
step fmt build_fmt
step spdlog build_spdlog
step cli11 build_cli11
step googletest build_googletest
step boost build_boost
step cpprestsdk build_cpprest

rm -rf "$work"
touch "$prefix/.complete"
echo "windows deps: built in $prefix" >&2
echo "$prefix"
