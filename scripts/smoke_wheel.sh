#!/usr/bin/env bash
# Smoke test of what `make wheel` put in dist/: the wheel installed into a fresh virtualenv (not
# the dev .venv) imports, reports the right version, is abi3/manylinux/portable and trains the
# seed MLP; `democratising --version` works from there; the sdist holds every file a build needs.
#
#   scripts/smoke_wheel.sh [DIST_DIR]          (default dist/)
#
# Environment:
#   PYTHON=python3          interpreter for the fresh virtualenv
#   SMOKE_VENV=build/smoke-venv
#   SMOKE_SDIST_BUILD=1     also build a wheel from the sdist with pip (a full Rust release build,
#                           about 5 min on 2 cores) and import it; `make release-check` sets it.
#   LOCK="flock FILE"       wraps the sdist build (the Makefile passes its build lock).
#   SMOKE_PORTABLE=1        the wheel must be the portable cp39-abi3 manylinux_2_28 one (`make
#                           wheel`); 0 accepts a linux_x86_64 wheel packed from the dev build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=${1:-dist}
PYTHON=${PYTHON:-python3}
VENV=${SMOKE_VENV:-build/smoke-venv}
LOCK=${LOCK:-}
case "${SMOKE_SDIST_BUILD:-0}" in 1 | true | yes) SDIST_BUILD=1 ;; *) SDIST_BUILD=0 ;; esac
case "${SMOKE_PORTABLE:-1}" in 1 | true | yes) PORTABLE=1 ;; *) PORTABLE=0 ;; esac

start=$(date +%s.%N)
say() { printf 'smoke: %s\n' "$*"; }
die() {
	printf 'smoke: FAIL: %s\n' "$*" >&2
	exit 1
}
elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# The one version: [workspace.package] in the workspace Cargo.toml.
version=$(awk '/^\[workspace.package\]/ { p = 1; next } /^\[/ { p = 0 }
	p && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }' Cargo.toml)
[ -n "$version" ] || die "no [workspace.package] version in Cargo.toml"

shopt -s nullglob
wheels=("$DIST"/democratising-"$version"-*.whl)
sdists=("$DIST"/democratising-"$version".tar.gz)
[ ${#wheels[@]} -eq 1 ] || die "expected one democratising-$version wheel in $DIST/ (run make wheel), found ${#wheels[@]}"
[ ${#sdists[@]} -eq 1 ] || die "expected democratising-$version.tar.gz in $DIST/ (run make wheel)"
wheel=${wheels[0]}
sdist=${sdists[0]}

# --- wheel tags and platform policy ----------------------------------------------------------
want=manylinux_2_28_x86_64
[ "$PORTABLE" = 1 ] || want=linux_x86_64
case "$(basename "$wheel")" in
*-cp39-abi3-"$want".whl) ;;
*) die "$(basename "$wheel"): expected a cp39-abi3 $want wheel" ;;
esac
size=$(du -h "$wheel" | cut -f1)
say "wheel $(basename "$wheel") ($size)"
AUDITWHEEL=${AUDITWHEEL:-.venv/bin/auditwheel}
if [ "$PORTABLE" = 0 ]; then
	say "packed from the dev build: manylinux policy checked by make wheel / make release-check, not here"
elif [ -x "$AUDITWHEEL" ]; then
	report=$("$AUDITWHEEL" show "$wheel" 2>&1 | tr '\n' ' ') || die "auditwheel show failed: $report"
	grep -q 'consistent with the following platform tag: "manylinux_2_28_x86_64"' <<<"$report" ||
		die "auditwheel does not accept the wheel as manylinux_2_28: $report"
	say "auditwheel: consistent with manylinux_2_28_x86_64"
else
	say "auditwheel not found at $AUDITWHEEL: platform policy not re-checked (maturin checked it)"
fi

# --- sdist contents --------------------------------------------------------------------------
root="democratising-$version"
listing=$(tar tzf "$sdist")
need=(Cargo.toml Cargo.lock pyproject.toml README.md CHANGELOG.md PKG-INFO
	rust/core/Cargo.toml rust/core/src/lib.rs rust/python/Cargo.toml rust/python/src/lib.rs
	python/democratising/__init__.py)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Every tracked source file the build or the package needs, not only the top-level ones.
	mapfile -t tracked < <(git ls-files rust/core/src rust/python/src python/democratising |
		grep -vE '(^|/)(__pycache__|.*\.pyc)$')
	need+=("${tracked[@]}")
fi
missing=()
for f in "${need[@]}"; do
	grep -qxF "$root/$f" <<<"$listing" || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] || die "the sdist lacks: ${missing[*]}"
if grep -E '\.(so|pyd|dylib)$|/target/' <<<"$listing"; then
	die "the sdist holds build outputs (listed above)"
fi
say "sdist $(basename "$sdist"): $(wc -l <<<"$listing") files, all ${#need[@]} needed ones present"

# --- fresh virtualenv --------------------------------------------------------------------------
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" ||
	die "pip install $wheel into a fresh virtualenv failed"
say "installed into fresh $VENV ($(elapsed) s so far)"

# Outside the checkout, so nothing is imported from python/ by accident.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$ROOT/$VENV/bin/python" "$ROOT/scripts/smoke_check.py" "$version") ||
	die "the installed wheel failed its checks"
got=$(cd "$work" && "$ROOT/$VENV/bin/democratising" --version) || die "democratising --version failed"
[ "$got" = "democratising $version" ] || die "democratising --version printed '$got'"
say "$VENV/bin/democratising --version: $got"

# --- optional: a wheel built from the sdist, as `pip install democratising-X.tar.gz` would ----
if [ "$SDIST_BUILD" = 1 ]; then
	say "building a wheel from the sdist (full release build; SMOKE_SDIST_BUILD=0 skips it)"
	mkdir -p "$work/sdist-wheel"
	# A fresh target dir: the sdist's files all carry one fixed mtime, so a cached cargo build
	# would look up to date after a source change and the test would pass on stale code.
	$LOCK env CARGO_TARGET_DIR="$work/sdist-target" \
		"$VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-cache-dir --no-deps \
		-w "$work/sdist-wheel" "$sdist" || die "building a wheel from $sdist failed"
	built=("$work"/sdist-wheel/democratising-*.whl)
	[ ${#built[@]} -eq 1 ] || die "pip wheel $sdist made no wheel"
	"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
		--no-deps "${built[0]}" || die "installing the wheel built from the sdist failed"
	(cd "$work" && "$ROOT/$VENV/bin/python" "$ROOT/scripts/smoke_check.py" "$version" --import-only) ||
		die "the wheel built from the sdist failed its checks"
	say "sdist -> $(basename "${built[0]}") builds, installs and imports"
else
	say "sdist -> wheel build skipped (make release-check runs it)"
fi

say "OK in $(elapsed) s"
