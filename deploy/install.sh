#!/usr/bin/env bash
# Install Troupe on a fresh Raspberry Pi OS (Bookworm or later). Run as root:
#
#   sudo TROUPE_URL=https://github.com/<you>/troupe.git ./deploy/install.sh
#
# Idempotent: running it again repairs what is missing and never overwrites an
# existing /etc/troupe/troupe.toml or /etc/troupe/env. It
#   1. installs python3-venv and git (apt),
#   2. creates the system user `troupe` (in the gpio group),
#   3. builds the first release under /opt/troupe/releases/<tag>/ and points
#      /opt/troupe/current at it (the same layout troupe.releases manages),
#   4. writes a configuration skeleton and an env file for the tokens,
#   5. installs troupe.service, troupe-rollback.service, the rollback script and
#      troupe-stop-post (resets the start limit after a restart the bot asked for).
# Every path can be overridden from the environment (tests use this).
set -euo pipefail

TROUPE_URL=${TROUPE_URL:-https://github.com/troupe-home/troupe.git}
TROUPE_REF_PATTERN=${TROUPE_REF_PATTERN:-v*}
TROUPE_VERSION=${TROUPE_VERSION:-}          # default: the newest tag matching the pattern
TROUPE_USER=${TROUPE_USER:-troupe}
TROUPE_ROOT=${TROUPE_ROOT:-/opt/troupe}
TROUPE_ETC=${TROUPE_ETC:-/etc/troupe}
TROUPE_UNIT_DIR=${TROUPE_UNIT_DIR:-/etc/systemd/system}
TROUPE_LIB=${TROUPE_LIB:-/usr/local/lib/troupe}
TROUPE_HOME=${TROUPE_HOME:-/var/lib/troupe}
TROUPE_PYTHON=${TROUPE_PYTHON:-python3}
TROUPE_GROUPS=${TROUPE_GROUPS-gpio i2c spi}  # hardware groups the user joins, where they exist

VERSION_RE='^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'troupe-install: %s\n' "$*"; }
die() { printf 'troupe-install: error: %s\n' "$*" >&2; exit 1; }

as_user() {  # run a command as the troupe user (or directly if we are that user)
    if [ "$(id -un)" = "$TROUPE_USER" ]; then "$@"; else runuser -u "$TROUPE_USER" -- "$@"; fi
}

write_file() {  # write_file PATH MODE OWNER:GROUP  (content on stdin), atomically
    local path=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp "$(dirname "$path")/.$(basename "$path").XXXXXX")
    cat > "$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
}

install_packages() {
    local missing=()
    for pkg in python3-venv git; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

create_user() {
    if ! id "$TROUPE_USER" >/dev/null 2>&1; then
        log "creating user $TROUPE_USER"
        useradd --system --home-dir "$TROUPE_HOME" --create-home \
            --shell /usr/sbin/nologin "$TROUPE_USER"
    fi
    for group in $TROUPE_GROUPS; do
        if getent group "$group" >/dev/null; then usermod -aG "$group" "$TROUPE_USER"; fi
    done
}

make_dirs() {
    install -d -o "$TROUPE_USER" -g "$TROUPE_USER" -m 0755 "$TROUPE_ROOT" "$TROUPE_ROOT/releases"
    install -d -o root -g "$TROUPE_USER" -m 0750 "$TROUPE_ETC"
    install -d -o root -g root -m 0755 "$TROUPE_LIB"
}

pick_version() {
    if [ -z "$TROUPE_VERSION" ]; then
        TROUPE_VERSION=$(git ls-remote --tags --refs "$TROUPE_URL" \
            | sed -n 's|.*\trefs/tags/||p' \
            | while read -r tag; do
                # shellcheck disable=SC2254  # the pattern is a glob on purpose
                case $tag in $TROUPE_REF_PATTERN) echo "$tag" ;; esac
              done | sort -V | tail -n 1)
        [ -n "$TROUPE_VERSION" ] || die "no tag matching $TROUPE_REF_PATTERN in $TROUPE_URL"
    fi
    [[ $TROUPE_VERSION =~ $VERSION_RE ]] || die "not a valid version: $TROUPE_VERSION"
}

build_release() {  # the first release; later ones are built by `troupe release`
    local dir="$TROUPE_ROOT/releases/$TROUPE_VERSION"
    if [ -f "$dir/RELEASE" ]; then
        log "release $TROUPE_VERSION is already built"
        return
    fi
    log "building release $TROUPE_VERSION from $TROUPE_URL"
    rm -rf "$dir"
    cd "$TROUPE_ROOT"  # the troupe user may not be able to read the caller's directory
    as_user mkdir -p "$dir"
    as_user git -c advice.detachedHead=false clone --quiet --depth 1 \
        --branch "$TROUPE_VERSION" -- "$TROUPE_URL" "$dir/src"
    as_user "$TROUPE_PYTHON" -m venv "$dir/venv"
    as_user env HOME="$TROUPE_HOME" "$dir/venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check ${TROUPE_PIP_ARGS:-} "$dir/src"
    [ -x "$dir/venv/bin/troupe" ] || die "release $TROUPE_VERSION installed no troupe command"
    printf '{"version": "%s", "source": "git %s", "built_at": %s}\n' \
        "$TROUPE_VERSION" "$TROUPE_URL" "$(date +%s)" \
        | write_file "$dir/RELEASE" 0644 "$TROUPE_USER:$TROUPE_USER"
}

point_current() {
    if [ -L "$TROUPE_ROOT/current" ]; then
        log "current -> $(readlink "$TROUPE_ROOT/current") (left as it is)"
        return
    fi
    local tmp="$TROUPE_ROOT/.current.install.$$"
    rm -f "$tmp"
    ln -s "releases/$TROUPE_VERSION" "$tmp"
    chown -h "$TROUPE_USER:$TROUPE_USER" "$tmp"
    mv -T "$tmp" "$TROUPE_ROOT/current"
    log "current -> releases/$TROUPE_VERSION"
}

write_config() {  # never overwrites: the operator's edits are the truth
    local host
    host=$(hostname -s 2>/dev/null || hostname)
    if [ ! -e "$TROUPE_ETC/troupe.toml" ]; then
        log "writing $TROUPE_ETC/troupe.toml"
        write_file "$TROUPE_ETC/troupe.toml" 0640 "root:$TROUPE_USER" <<EOF
# Troupe configuration for $host. Tokens are in $TROUPE_ETC/env, not here.
[slack]
channel = "home"

[host]
name = "$host"

[auth]
# Slack user IDs (U...) allowed to give commands.
users = []

[update]
root = "$TROUPE_ROOT"
source = "git"
url = "$TROUPE_URL"
ref_pattern = "$TROUPE_REF_PATTERN"
EOF
    fi
    if [ ! -e "$TROUPE_ETC/env" ]; then
        log "writing $TROUPE_ETC/env (fill in the two tokens)"
        write_file "$TROUPE_ETC/env" 0600 root:root <<'EOF'
# Read by systemd (as root) for troupe.service. Keep this file mode 0600.
TROUPE_SLACK_BOT_TOKEN=xoxb-REPLACE-ME
TROUPE_SLACK_APP_TOKEN=xapp-REPLACE-ME
EOF
    fi
}

deploy_file() {  # deploy_file NAME: from this checkout, else from the release just built
    if [ -f "$HERE/$1" ]; then echo "$HERE/$1"
    else echo "$TROUPE_ROOT/releases/$TROUPE_VERSION/src/deploy/$1"; fi
}

install_units() {
    write_file "$TROUPE_LIB/troupe-rollback" 0755 root:root < "$(deploy_file troupe-rollback.sh)"
    write_file "$TROUPE_LIB/troupe-stop-post" 0755 root:root < "$(deploy_file troupe-stop-post.sh)"
    for unit in troupe.service troupe-rollback.service; do
        sed -e "s|/opt/troupe|$TROUPE_ROOT|g" -e "s|/etc/troupe|$TROUPE_ETC|g" \
            -e "s|/usr/local/lib/troupe|$TROUPE_LIB|g" -e "s|/var/lib/troupe|$TROUPE_HOME|g" \
            -e "s|^User=troupe|User=$TROUPE_USER|" -e "s|^Group=troupe|Group=$TROUPE_USER|" \
            "$(deploy_file "$unit")" | write_file "$TROUPE_UNIT_DIR/$unit" 0644 root:root
    done
    if ! getent group gpio >/dev/null; then
        sed -i '/^SupplementaryGroups=gpio/d' "$TROUPE_UNIT_DIR/troupe.service"
    fi
    if [ -d /run/systemd/system ] && [ "${TROUPE_NO_SYSTEMCTL:-0}" != 1 ]; then
        systemctl daemon-reload
        systemctl enable troupe.service
        if grep -q 'REPLACE-ME' "$TROUPE_ETC/env"; then
            log "not starting yet: put the tokens in $TROUPE_ETC/env, then: systemctl start troupe"
        else
            systemctl restart troupe.service
        fi
    fi
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
    [ "${TROUPE_SKIP_APT:-0}" = 1 ] || install_packages
    create_user
    make_dirs
    pick_version
    build_release
    point_current
    write_config
    install_units
    log "done: release $TROUPE_VERSION; next steps in docs/deploy.md"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
