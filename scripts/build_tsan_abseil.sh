#!/usr/bin/env bash
# Builds ThreadSanitizer-instrumented copies of Debian's Abseil shared
# libraries for the tsan stage (scripts/run_sanitizers.sh, FUZZING.md).
#
# Why: absl::Mutex, CondVar, Notification and SpinLock tell TSan about their
# lock/unlock only when Abseil itself is compiled with -fsanitize=thread
# (ABSL_TSAN_MUTEX_* hooks in mutex.cc / spinlock.cc). Debian's
# libabsl_synchronization is a plain GCC build, so under TSan every field
# guarded by an absl::Mutex looked racy (193 false reports in execution_test).
#
# How: Debian's own source package of the installed libabsl version (same
# code, same patches: options.h, inline namespace, SONAME
# libabsl_*.so.20220623) is fetched with apt-get source through a private
# source list (the machine's apt configuration is not changed), configured as
# debian/rules does (C++17, shared) with clang -fsanitize=thread, and only the
# synchronization library and what it depends on are built. The result is
# ABI-identical to the system libraries, so the tsan stage puts it first on
# LD_LIBRARY_PATH and every user of absl::Mutex (our code, gRPC's gpr_mu)
# becomes visible to TSan. The system's libraries are left untouched.
#
# Usage: scripts/build_tsan_abseil.sh OUT_DIR   (libraries land in OUT_DIR/lib;
# a second run with the same installed version does nothing)
set -euo pipefail
out=$(realpath -m "$1")
version=$(dpkg-query -W -f='${Version}' libabsl-dev)
if [[ -f "$out/lib/.version" && $(cat "$out/lib/.version") == "$version" ]]; then
  exit 0
fi
work="$out/work"
rm -rf "$work" "$out/lib"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources" "$out/lib"

# deb-src entries for the machine's own Debian suites, in a private list.
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] && sed 's/^Types: deb$/Types: deb-src/' "$f"
done >"$work/apt/sources/src.sources"
if [[ -f /etc/apt/sources.list ]]; then
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$work/apt/sources.list"
else
  : >"$work/apt/sources.list"
fi
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/sources"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "APT::Sandbox::User=root")
command -v dpkg-source >/dev/null || { echo "dpkg-source missing (package dpkg-dev)" >&2; exit 1; }
apt-get "${apt_opts[@]}" -q update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" -q source --download-only "abseil=$version" >/dev/null)
(cd "$work" && dpkg-source -x abseil_*.dsc src >/dev/null)  # applies Debian's patches (SONAME, options.h)
cmp -s "$work/src/absl/base/options.h" /usr/include/absl/base/options.h ||
  { echo "abseil source options.h differs from the installed one: ABI would not match" >&2; exit 1; }

# -O1 -g1 like the rest of the sanitizer build; debian/rules' C++17 + shared.
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
  -DBUILD_TESTING=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" >/dev/null
jobs=$(nproc)
cmake --build "$work/build" -j "$jobs" --target synchronization status statusor
cp -P "$work/build"/absl/*/libabsl_*.so.* "$out/lib/"
echo "$version" >"$out/lib/.version"
rm -rf "$work"
echo "TSan Abseil $version: $(ls "$out/lib" | grep -c '\.so\.[0-9]*$') libraries in $out/lib"
