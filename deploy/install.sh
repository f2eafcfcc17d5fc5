#!/usr/bin/env bash
# Install Troupe on a fresh Raspberry Pi OS (Bookworm or later). Run as root:
#
#   sudo TROUPE_URL=https://github.com/<you>/troupe.git ./deploy/install.sh --owner U0123ABCD
#
# --owner U...   the owner's Slack user ID (profile, "..." menu, "Copy member ID"): the
#                only person [auth] users lets give commands at first; asked for when
#                run on a terminal, also read from TROUPE_OWNER.
# --open-house   no owner: every person in the channel may give commands, update and
#                rollback included (users = []). Only with this flag.
# --federation-secret S   the house's federation secret, the same on every Pi (also read
#                from TROUPE_FEDERATION_SECRET); without it the first Pi gets a fresh one
#                in /etc/troupe/env, to copy to the others (`troupe secret` prints one).
#
# Idempotent: running it again repairs what is missing and never overwrites an
# existing /etc/troupe/troupe.toml or /etc/troupe/env. It
#   1. installs python3-venv and git, and the GPIO pin library python3-lgpio where the
#      archive has it (apt; Raspberry Pi OS does),
#   2. creates the system user `troupe` (in the gpio group),
#   3. builds the first release under /opt/troupe/releases/<tag>/ and points
#      /opt/troupe/current at it (the same layout troupe.releases manages),
#   4. writes a configuration skeleton (the owner in [auth] users) and an env file
#      for the tokens,
#   5. installs troupe.service, troupe-rollback.service, the rollback script and
#      troupe-stop-post (resets the start limit after a restart the bot asked for).
# Every path can be overridden from the environment (tests use this).
#
# Root never follows a link inside a directory the troupe user can write: everything
# under TROUPE_ROOT is done as that user, and a planted symlink where install.sh
# expects a directory is refused (docs/security.md).
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
TROUPE_OWNER=${TROUPE_OWNER:-}              # the owner's Slack user ID (or --owner)
TROUPE_OPEN_HOUSE=${TROUPE_OPEN_HOUSE:-0}   # 1: users = [] (or --open-house)
TROUPE_FEDERATION_SECRET=${TROUPE_FEDERATION_SECRET:-}  # the Pis' shared secret (or --federation-secret)

VERSION_RE='^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$'
USER_ID_RE='^[UW][A-Z0-9]{2,}$'
SECRET_RE='^[A-Za-z0-9._~+/=-]{16,}$'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'troupe-install: %s\n' "$*"; }
die() { printf 'troupe-install: error: %s\n' "$*" >&2; exit 1; }

as_user() {  # run a command as the troupe user (or directly if we are that user)
    if [ "$(id -un)" = "$TROUPE_USER" ]; then "$@"; else runuser -u "$TROUPE_USER" -- "$@"; fi
}

no_link() {  # refuse a symlink where a real file or directory is expected
    local path
    for path in "$@"; do
        if [ -L "$path" ]; then
            die "$path is a symbolic link (to $(readlink "$path")); refusing to follow it as root. Remove it and run again."
        fi
    done
}

redact_url() {  # the URL without user:password@ (written into RELEASE, shown in logs)
    printf '%s' "$1" | sed -E 's|^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@|\1|'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --owner) [ $# -ge 2 ] || die "--owner needs a Slack user ID"; TROUPE_OWNER=$2; shift ;;
            --owner=*) TROUPE_OWNER=${1#--owner=} ;;
            --open-house) TROUPE_OPEN_HOUSE=1 ;;
            --federation-secret) [ $# -ge 2 ] || die "--federation-secret needs a value (troupe secret prints one)"
                TROUPE_FEDERATION_SECRET=$2; shift ;;
            --federation-secret=*) TROUPE_FEDERATION_SECRET=${1#--federation-secret=} ;;
            -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown option: $1 (see --help)" ;;
        esac
        shift
    done
    check_secret
}

check_secret() {  # a given federation secret must fit on its line of the env file
    if [ -n "$TROUPE_FEDERATION_SECRET" ] && ! [[ $TROUPE_FEDERATION_SECRET =~ $SECRET_RE ]]; then
        die "the federation secret must be at least 16 letters, digits or ._~+/=- (troupe secret prints one)"
    fi
}

new_secret() {  # a fresh federation secret: 256 random bits, URL-safe (as `troupe secret`)
    "$TROUPE_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))'
}

pick_owner() {  # who may give commands in a new configuration
    [ ! -e "$TROUPE_ETC/troupe.toml" ] || return 0  # the operator's file stays as it is
    if [ "$TROUPE_OPEN_HOUSE" = 1 ]; then
        [ -z "$TROUPE_OWNER" ] || die "--owner and --open-house: choose one"
        log "open house: every person in the channel may give commands (users = [])"
        return 0
    fi
    if [ -z "$TROUPE_OWNER" ] && [ -t 0 ]; then
        read -r -p "Your Slack user ID (U..., from your profile: ... > Copy member ID): " \
            TROUPE_OWNER || true
    fi
    [ -n "$TROUPE_OWNER" ] || die "whose house is it? Give the owner's Slack user ID with --owner U0123ABCD (or TROUPE_OWNER), or --open-house to let every person in the channel give commands"
    [[ $TROUPE_OWNER =~ $USER_ID_RE ]] \
        || die "not a Slack user ID: $TROUPE_OWNER (expected U or W then capitals and digits, such as U0123ABCD)"
}

write_file() {  # write_file PATH MODE OWNER:GROUP  (content on stdin), atomically; root's dirs only
    local path=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp "$(dirname "$path")/.$(basename "$path").XXXXXX")
    cat > "$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
}

install_packages() {
    local missing=() install=() pkg
    for pkg in python3-venv git python3-lgpio; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    apt-get update -q
    for pkg in "${missing[@]}"; do
        if [ "$pkg" = python3-lgpio ] && ! apt_has "$pkg"; then  # Debian bookworm has none
            log "warning: this system's archive has no python3-lgpio: GPIO devices will get" \
                "no pin library (troupe check says so); see docs/deploy.md, GPIO"
        else
            install+=("$pkg")
        fi
    done
    [ ${#install[@]} -gt 0 ] || return 0
    log "installing ${install[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${install[@]}"
}

apt_has() {  # apt_has PACKAGE: the archive offers it (a candidate version)
    apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'
}

make_venv() {  # make_venv DIR: a release venv that also sees the system's packages (GPIO)
    # python3-lgpio is Debian's build of the pin library for the Pi's own CPU (PyPI has no
    # wheel for a Pi Zero's armv6l, and a Pi has no compiler). The release's own
    # dependencies still go into the venv: pip install --ignore-installed (see docs/deploy.md).
    as_user "$TROUPE_PYTHON" -m venv --system-site-packages "$1"
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
    no_link "$TROUPE_ROOT"
    install -d -o "$TROUPE_USER" -g "$TROUPE_USER" -m 0755 "$TROUPE_ROOT"
    no_link "$TROUPE_ROOT/releases"  # inside the troupe user's directory: made as that user
    as_user mkdir -p "$TROUPE_ROOT/releases"
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
    local dir="$TROUPE_ROOT/releases/$TROUPE_VERSION" ref="refs/tags/$TROUPE_VERSION"
    no_link "$TROUPE_ROOT/releases" "$dir"
    if [ -f "$dir/RELEASE" ]; then
        log "release $TROUPE_VERSION is already built"
        return
    fi
    log "building release $TROUPE_VERSION from $(redact_url "$TROUPE_URL")"
    cd "$TROUPE_ROOT"  # the troupe user may not be able to read the caller's directory
    as_user rm -rf "$dir"
    as_user mkdir -p "$dir"
    # The tag only (a branch of the same name changes nothing), fetched by URL so the
    # URL's credentials are not saved in src/.git/config (troupe.releases does the same).
    as_user git init --quiet -- "$dir/src"
    as_user git -C "$dir/src" fetch --quiet --no-tags --depth 1 -- "$TROUPE_URL" "+$ref:$ref"
    as_user git -C "$dir/src" -c advice.detachedHead=false checkout --quiet --detach "$ref^{commit}"
    as_user rm -f "$dir/src/.git/FETCH_HEAD"
    make_venv "$dir/venv"
    as_user env HOME="$TROUPE_HOME" "$dir/venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check --ignore-installed ${TROUPE_PIP_ARGS:-} "$dir/src"
    [ -x "$dir/venv/bin/troupe" ] || die "release $TROUPE_VERSION installed no troupe command"
    printf '{"version": "%s", "source": "git %s (tags %s)", "built_at": %s}\n' \
        "$TROUPE_VERSION" "$(redact_url "$TROUPE_URL")" "$TROUPE_REF_PATTERN" "$(date +%s)" \
        | as_user sh -c 'cat > "$1.tmp" && mv -f "$1.tmp" "$1"' sh "$dir/RELEASE"
}

point_current() {
    if [ -L "$TROUPE_ROOT/current" ]; then
        log "current -> $(readlink "$TROUPE_ROOT/current") (left as it is)"
        return
    fi
    local tmp="$TROUPE_ROOT/.current.install.$$"
    as_user rm -f "$tmp"
    as_user ln -sfn "releases/$TROUPE_VERSION" "$tmp"
    as_user mv -T "$tmp" "$TROUPE_ROOT/current"
    log "current -> releases/$TROUPE_VERSION"
}

write_config() {  # never overwrites: the operator's edits are the truth
    local host users=""
    host=$(hostname -s 2>/dev/null || hostname)
    if [ -n "$TROUPE_OWNER" ] && [ "$TROUPE_OPEN_HOUSE" != 1 ]; then users="\"$TROUPE_OWNER\""; fi
    if [ ! -e "$TROUPE_ETC/troupe.toml" ]; then
        log "writing $TROUPE_ETC/troupe.toml"
        write_file "$TROUPE_ETC/troupe.toml" 0640 "root:$TROUPE_USER" <<EOF
# Troupe configuration for $host. Tokens are in $TROUPE_ETC/env, not here.
[slack]
channel = "home"

[host]
name = "$host"

[auth]
# Slack user IDs (U...) allowed to give commands. Empty: every person in the channel.
users = [$users]
# Of those, who may also run update, rollback, target and debug (empty: all of users).
# admins = [$users]

[update]
root = "$TROUPE_ROOT"
source = "git"
url = "$TROUPE_URL"
ref_pattern = "$TROUPE_REF_PATTERN"
EOF
    fi
    check_secret
    local secret=$TROUPE_FEDERATION_SECRET
    if [ ! -e "$TROUPE_ETC/env" ]; then
        log "writing $TROUPE_ETC/env (fill in the two tokens)"
        if [ -z "$secret" ]; then
            secret=$(new_secret) || die "cannot make a federation secret with $TROUPE_PYTHON"
            log "made a new federation secret in $TROUPE_ETC/env (TROUPE_FEDERATION_SECRET): give every other Pi of this house the same one (install.sh --federation-secret ...)"
        fi
        write_file "$TROUPE_ETC/env" 0600 root:root <<EOF
# Read by systemd (as root) for troupe.service. Keep this file mode 0600.
TROUPE_SLACK_BOT_TOKEN=xoxb-REPLACE-ME
TROUPE_SLACK_APP_TOKEN=xapp-REPLACE-ME
# The same on every Pi of the house: it proves a message comes from one of them.
TROUPE_FEDERATION_SECRET=$secret
EOF
    elif ! grep -q '^TROUPE_FEDERATION_SECRET=' "$TROUPE_ETC/env"; then
        if [ -n "$secret" ]; then
            log "adding the federation secret to $TROUPE_ETC/env"
            { cat -- "$TROUPE_ETC/env"; printf 'TROUPE_FEDERATION_SECRET=%s\n' "$secret"; } \
                | write_file "$TROUPE_ETC/env" 0600 root:root
        else
            log "warning: $TROUPE_ETC/env has no TROUPE_FEDERATION_SECRET; add the house's (the other Pis' value; for a new house, troupe secret prints one), or run again with --federation-secret"
        fi
    fi
}

deploy_file() {  # deploy_file NAME: its text, from this checkout, else from the release
    # just built; read as the troupe user there, so a planted link cannot make root copy
    # a file only root may read into a world-readable unit
    if [ -f "$HERE/$1" ]; then cat -- "$HERE/$1"
    else as_user cat -- "$TROUPE_ROOT/releases/$TROUPE_VERSION/src/deploy/$1"; fi
}

deploy_text() {  # deploy_text NAME VAR: the file's text into VAR, or stop (nothing written)
    local read_text
    read_text=$(deploy_file "$1" && echo x) || die "cannot read $1"
    printf -v "$2" '%s' "${read_text%x}"
}

install_units() {
    local text
    deploy_text troupe-rollback.sh text
    printf '%s' "$text" | write_file "$TROUPE_LIB/troupe-rollback" 0755 root:root
    deploy_text troupe-stop-post.sh text
    printf '%s' "$text" | write_file "$TROUPE_LIB/troupe-stop-post" 0755 root:root
    for unit in troupe.service troupe-rollback.service; do
        deploy_text "$unit" text
        printf '%s' "$text" | sed -e "s|/opt/troupe|$TROUPE_ROOT|g" -e "s|/etc/troupe|$TROUPE_ETC|g" \
            -e "s|/usr/local/lib/troupe|$TROUPE_LIB|g" -e "s|/var/lib/troupe|$TROUPE_HOME|g" \
            -e "s|^User=troupe|User=$TROUPE_USER|" -e "s|^Group=troupe|Group=$TROUPE_USER|" \
            | write_file "$TROUPE_UNIT_DIR/$unit" 0644 root:root
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
    parse_args "$@"
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
    pick_owner  # before the long build: a missing owner stops it at once
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
