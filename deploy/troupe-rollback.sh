#!/bin/sh
# troupe-rollback ROOT: point ROOT/current at the previous release.
#
# Same layout and rules as troupe.releases.ReleaseRoot.rollback(), in plain sh
# so it works when the current release's Python is what is broken:
#   current, previous  relative symlinks to releases/<version>
#   releases/<v>/RELEASE   the build is complete
#   releases/<v>/FAILED    rolled back from; never rolled back *to*
# Each link is replaced atomically (a new symlink renamed over the old one).
set -eu

root=${1:-/opt/troupe}
cd "$root"

die() { echo "troupe-rollback: $*" >&2; exit 1; }

point() {  # point LINK TARGET, atomically
    tmp=".$1.rollback.$$"
    rm -f "$tmp"
    ln -s "$2" "$tmp"
    mv -T "$tmp" "$1"
}

if [ -d releases ] && command -v flock >/dev/null 2>&1; then
    exec 9>>releases/.lock  # held by troupe.releases while it moves links or deletes
    flock -w 60 9 || die "releases/.lock stays held"
fi

cur=$(readlink current 2>/dev/null || true)
prev=$(readlink previous 2>/dev/null || true)

[ -n "$prev" ] || die "no previous release in $root"
[ -f "$prev/RELEASE" ] || die "previous release $prev is not a complete build"
[ ! -e "$prev/FAILED" ] || die "previous release $prev is marked failed; not rolling back"

point current "$prev"
if [ -n "$cur" ]; then
    point previous "$cur"
    if [ -d "$cur" ]; then
        printf 'rolled back at %s\n' "$(date +%s)" > "$cur/.FAILED.$$"
        mv -f "$cur/.FAILED.$$" "$cur/FAILED"
    fi
fi
echo "troupe-rollback: current -> $prev (was ${cur:-none})"
