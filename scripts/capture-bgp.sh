#!/usr/bin/env bash
# capture-bgp.sh records real BGP sessions between FRR, BIRD and GoBGP and
# writes them as hex test vectors for internal/bgp/wire (capture_test.go).
#
# Three network namespaces (one per daemon) are joined pairwise by veth links;
# every name carries a per-run random prefix and everything is torn down on
# exit. No traffic leaves the namespaces. Needs root, iproute2, tcpdump, frr,
# bird2 and gobgpd. Usage: sudo scripts/capture-bgp.sh [outdir]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/internal/bgp/wire/testdata/captures}

die() { echo "capture-bgp: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (creates network namespaces)"
for t in ip tcpdump /usr/lib/frr/bgpd vtysh bird birdc gobgpd gobgp go; do
	command -v "$t" >/dev/null || die "missing tool $t"
done

pfx=cb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
nsf=${pfx}f nsb=${pfx}b nsg=${pfx}g
tmp=$(mktemp -d /tmp/capture-bgp.XXXXXX)
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for f in "$tmp"/*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
	sleep 0.5
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for f in "$tmp"/*.pid; do [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null; done
	for ns in "$nsf" "$nsb" "$nsg"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ASF=4200000001 ASB=4200000002 ASG=4200000003

# --- namespaces and links -------------------------------------------------
for ns in "$nsf" "$nsb" "$nsg"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
# link N joins namespaces A and B: 10.N.0.1/30, fd00:N::1/64 on A; .2 / ::2 on B.
link() {
	local n=$1 a=$2 b=$3 ia=$4 ib=$5
	ip link add "$ia" netns "$a" type veth peer name "$ib" netns "$b"
	ip -n "$a" addr add "10.$n.0.1/30" dev "$ia"
	ip -n "$b" addr add "10.$n.0.2/30" dev "$ib"
	ip -n "$a" addr add "fd00:$n::1/64" dev "$ia" nodad
	ip -n "$b" addr add "fd00:$n::2/64" dev "$ib" nodad
	ip -n "$a" link set "$ia" up
	ip -n "$b" link set "$ib" up
}
link 1 "$nsf" "$nsb" "${pfx}fb" "${pfx}bf" # FRR<->BIRD, session over IPv6
link 2 "$nsf" "$nsg" "${pfx}fg" "${pfx}gf" # FRR<->GoBGP, session over IPv4
link 3 "$nsb" "$nsg" "${pfx}bg" "${pfx}gb" # BIRD<->GoBGP, session over IPv4

# --- packet capture (started before the daemons so the OPENs are recorded) --
cap() {
	local ns=$1 ifc=$2 name=$3
	ip netns exec "$ns" tcpdump -i "$ifc" -s 0 -U -w "$tmp/$name.pcap" 'tcp port 179' 2>"$tmp/$name.tcpdump.log" &
	pids+=($!)
}
cap "$nsf" "${pfx}fb" frr-bird
cap "$nsf" "${pfx}fg" frr-gobgp
cap "$nsb" "${pfx}bg" bird-gobgp
for name in frr-bird frr-gobgp bird-gobgp; do
	for _ in $(seq 50); do
		grep -q 'listening on' "$tmp/$name.tcpdump.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q 'listening on' "$tmp/$name.tcpdump.log" || die "tcpdump for $name did not start: $(cat "$tmp/$name.tcpdump.log")"
done

# --- FRR -------------------------------------------------------------------
mkdir -p "$tmp/frr"
{
	cat <<CONF
frr defaults datacenter
hostname frr
log file $tmp/frr/bgpd.log
!
route-map RM-A permit 10
 set community 65001:100 65001:200
 set large-community $ASF:1:1 $ASF:1:2
 set extcommunity rt 65001:1
 set metric 50
 set origin igp
route-map RM-B permit 10
 set community 65001:300
 set large-community $ASF:2:1
 set extcommunity soo 65001:2
 set as-path prepend $ASF $ASF
 set origin incomplete
route-map RM-C permit 10
 set metric 7
 set origin egp
route-map V6NH permit 10
 set ipv6 next-hop global fd00:2::1
!
router bgp $ASF
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor fd00:1::2 remote-as $ASB
 neighbor fd00:1::2 capability extended-nexthop
 neighbor 10.2.0.2 remote-as $ASG
 address-family ipv4 unicast
  neighbor fd00:1::2 activate
  neighbor fd00:1::2 addpath-tx-all-paths
  neighbor 10.2.0.2 activate
  neighbor 10.2.0.2 addpath-tx-all-paths
  aggregate-address 10.11.0.0/20
CONF
	rms=(RM-A RM-B RM-C)
	for n in $(seq 0 11); do echo "  network 10.11.$n.0/24 route-map ${rms[n % 3]}"; done
	cat <<CONF
 exit-address-family
 address-family ipv6 unicast
  neighbor fd00:1::2 activate
  neighbor fd00:1::2 addpath-tx-all-paths
  neighbor 10.2.0.2 activate
  neighbor 10.2.0.2 route-map V6NH out
CONF
	for n in $(seq 0 11); do echo "  network 2001:db8:11:$n::/64 route-map ${rms[(n + 1) % 3]}"; done
	echo " exit-address-family"
} >"$tmp/frr/bgpd.conf"
ip netns exec "$nsf" /usr/lib/frr/bgpd -d -Z -n -S -f "$tmp/frr/bgpd.conf" \
	-i "$tmp/frr.pid" --vty_socket "$tmp/frr" -P 0 >"$tmp/frr/stdout.log" 2>&1 ||
	die "bgpd did not start: $(cat "$tmp/frr/stdout.log")"

# --- BIRD ------------------------------------------------------------------
{
	cat <<CONF
log "$tmp/bird.log" all;
router id 10.255.0.2;
protocol device { }
protocol static st4 {
	ipv4;
CONF
	for n in $(seq 0 11); do echo "	route 10.12.$n.0/24 blackhole;"; done
	echo "}"
	echo "protocol static st6 {"
	echo "	ipv6;"
	for n in $(seq 0 11); do echo "	route 2001:db8:12:$n::/64 blackhole;"; done
	cat <<CONF
}
filter out4 {
	if source = RTS_STATIC then {
		bgp_community.add((65002, 100));
		bgp_large_community.add(($ASB, 4, net.len));
		if net ~ [10.12.0.0/22{24,24}] then {
			bgp_med = 20;
			bgp_ext_community.add((rt, 65002, 1));
		} else {
			bgp_path.prepend($ASB);
			bgp_origin = ORIGIN_INCOMPLETE;
			bgp_community.add((65002, 200));
		}
	}
	accept;
}
filter out6 {
	if source = RTS_STATIC then {
		bgp_community.add((65002, 600));
		bgp_large_community.add(($ASB, 6, 1));
		if net ~ [2001:db8:12::/62{64,64}] then {
			bgp_ext_community.add((ro, 65002, 6));
			bgp_med = 60;
		} else {
			bgp_origin = ORIGIN_EGP;
		}
	}
	accept;
}
protocol bgp frr {
	local fd00:1::2 as $ASB;
	neighbor fd00:1::1 as $ASF;
	passive on;
	enable extended messages on;
	ipv4 { import all; export filter out4; extended next hop on; add paths on; };
	ipv6 { import all; export filter out6; add paths on; };
}
protocol bgp gobgp {
	local 10.3.0.1 as $ASB;
	neighbor 10.3.0.2 as $ASG;
	ipv4 { import all; export filter out4; add paths on; };
	ipv6 { import all; export filter out6; next hop address fd00:3::1; };
}
CONF
} >"$tmp/bird.conf"
ip netns exec "$nsb" bird -c "$tmp/bird.conf" -s "$tmp/bird.ctl" -P "$tmp/bird.pid" ||
	die "bird did not start"

# --- GoBGP -----------------------------------------------------------------
# gobgp_neighbor ADDR AS LOCAL: a passive session to ADDR from LOCAL, IPv4
# with ADD-PATH both ways and IPv6.
gobgp_neighbor() {
	cat <<CONF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$1"
    peer-as = $2
  [neighbors.transport.config]
    local-address = "$3"
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 4
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF
}
{
	cat <<CONF
[global.config]
  as = $ASG
  router-id = "10.255.0.3"
CONF
	gobgp_neighbor 10.2.0.1 "$ASF" 10.2.0.2 # FRR
	gobgp_neighbor 10.3.0.1 "$ASB" 10.3.0.2 # BIRD
} >"$tmp/gobgpd.toml"
ip netns exec "$nsg" gobgpd -f "$tmp/gobgpd.toml" --api-hosts 127.0.0.1:50051 \
	--pprof-disable -p >"$tmp/gobgpd.log" 2>&1 &
pids+=($!)
gob() { ip netns exec "$nsg" gobgp -u 127.0.0.1 -p 50051 "$@"; }
for _ in $(seq 100); do gob global >/dev/null 2>&1 && break; sleep 0.1; done
gob global >/dev/null || die "gobgpd API did not come up: $(tail -5 "$tmp/gobgpd.log")"
for n in $(seq 0 11); do
	case $((n % 3)) in
	0) attrs=(origin igp med 30 community 65003:100,65003:101 large-community $ASG:3:1) ;;
	1) attrs=(origin egp community 65003:200 aspath 65100) ;;
	2) attrs=(origin incomplete large-community $ASG:3:2,$ASG:3:3 med 0) ;;
	esac
	gob global rib add -a ipv4 "10.13.$n.0/24" nexthop 10.2.0.2 "${attrs[@]}"
	gob global rib add -a ipv6 "2001:db8:13:$n::/64" nexthop fd00:2::2 "${attrs[@]}"
done

# --- wait for the three sessions (BIRD sees two, GoBGP sees two) ------------
established() {
	local b g
	b=$(ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" show protocols 2>/dev/null | grep -c Established || true)
	g=$(gob neighbor 2>/dev/null | grep -c Establ || true)
	[[ $b -eq 2 && $g -eq 2 ]]
}
ok=
for _ in $(seq 60); do
	if established; then ok=1; break; fi
	sleep 0.5
done
if [[ -z $ok ]]; then
	ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" show protocols >&2 || true
	gob neighbor >&2 || true
	tail -20 "$tmp/frr/bgpd.log" >&2 || true
	die "sessions did not come up within 30 s"
fi
sleep 6 # initial updates, End-of-RIB markers, keepalives

# A ROUTE-REFRESH each way on one session, then a Cease NOTIFICATION, so those
# message types are recorded too.
ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" reload in frr >/dev/null
ip netns exec "$nsf" vtysh --vty_socket "$tmp/frr" -c 'clear bgp ipv6 unicast 10.2.0.2 soft in' >/dev/null 2>&1 || true
sleep 2
ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" disable gobgp '"capture done"' >/dev/null
sleep 1

for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
sleep 1

versions="frr=$(/usr/lib/frr/bgpd --version | awk 'NR==1{print $3}') bird=$(bird --version 2>&1 | awk '{print $3}') gobgp=$(gobgpd --version | awk '{print $3}')"
mkdir -p "$out"
cd "$repo"
go run ./internal/bgp/wire/testdata/captures/extract -out "$out" -versions "$versions" \
	-pcap "frr-bird=$tmp/frr-bird.pcap" -pcap "frr-gobgp=$tmp/frr-gobgp.pcap" -pcap "bird-gobgp=$tmp/bird-gobgp.pcap"
