#!/usr/bin/env bash
# Installs what clos needs on a Debian machine, from Debian's packages only.
#   scripts/deps.sh test   what `make test` needs (routing daemons for interop, tools for the netns tests)
#   scripts/deps.sh demo   what `make demo` needs
# Idempotent: packages already installed are not touched, and apt is not
# called at all when nothing is missing.
set -euo pipefail

what=${1:-test}
case "$what" in
test) pkgs=(gcc libc6-dev iproute2 iputils-ping nftables tcpdump frr bird2 gobgpd prometheus systemd curl) ;;
demo) pkgs=(gcc libc6-dev iproute2 iputils-ping nftables frr) ;;
*)
	echo "deps.sh: unknown target '$what'; valid: test, demo" >&2
	exit 2
	;;
esac

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "deps.sh: go is at /usr/local/go/bin but not on PATH; run: export PATH=\$PATH:/usr/local/go/bin" >&2
	else
		echo "deps.sh: Go 1.26 or newer is required (Debian's golang-go is too old); install it to /usr/local/go" >&2
	fi
	exit 1
fi
gover=$(go env GOVERSION | sed 's/^go//')
case "$gover" in
1.2[6-9]* | 1.[3-9][0-9]* | [2-9].*) ;;
*)
	echo "deps.sh: Go $gover found; clos needs Go 1.26 or newer" >&2
	exit 1
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Daemons installed here are only used as binaries: tests and labs start
# their own instances in their own namespaces, never the system services.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
