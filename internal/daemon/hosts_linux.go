//go:build linux

package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/closnet/clos/internal/neigh"
)

// HostRouteProtocol tags the kernel routes to learned hosts
// (`ip route show proto 202`), apart from the FIB's BGP routes (201).
const HostRouteProtocol = 202

// HostRouteMetric is below the FIB's default metric (20), so while a host
// is held here its port route wins over a BGP route to another leaf that
// already claims it (the host is being probed), and the two never replace
// each other.
const HostRouteMetric = 10

func defaultHostEnv() (neigh.Kernel, HostNet, func([]string) (HostWatcher, error), error) {
	k, err := neigh.NewLinuxKernel(nil)
	if err != nil {
		return nil, nil, nil, err
	}
	watch := func(ifs []string) (HostWatcher, error) {
		w, err := neigh.Watch(neigh.WatchOptions{Interfaces: ifs, Links: true})
		if err != nil {
			return nil, err
		}
		return w, nil
	}
	return k, LinuxHostNet{}, watch, nil
}

// LinuxHostNet is HostNet for the namespace closd runs in.
type LinuxHostNet struct{}

// portSysctls make a server port fit for host routing:
//   - proxy_arp: a server's subnet is wider than its link (the subnet is
//     shared by every leaf), so the leaf answers ARP for hosts it routes
//     elsewhere, with the gateway MAC;
//   - arp_accept: a moved VM's gratuitous ARP creates a neighbor entry, so
//     the new leaf learns it before it sends anything else;
//   - IPv6 accept_untracked_na: the same for an unsolicited NA (Linux
//     5.18+; absent elsewhere, which only delays learning);
//   - proxy_ndp: lets IPv6 proxy entries answer.
var portSysctls = []struct {
	path, value string
	optional    bool
}{
	{"ipv4/conf/%s/proxy_arp", "1", false},
	{"ipv4/conf/%s/arp_accept", "1", false},
	{"ipv6/conf/%s/accept_untracked_na", "1", true},
	{"ipv6/conf/%s/proxy_ndp", "1", true},
}

// SetupPort gives the port the anycast gateway's MAC and addresses and the
// sysctls above.
func (LinuxHostNet) SetupPort(ifname string, gw neigh.AnycastGateway) error {
	if ifname == "" || filepath.Base(ifname) != ifname || ifname == "." || ifname == ".." {
		return fmt.Errorf("bad interface name %q", ifname)
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return err
	}
	var errs []error
	if !gw.MAC.IsZero() && !bytes.Equal(l.Attrs().HardwareAddr, gw.MAC[:]) {
		// The same MAC on every server port of every leaf: a VM that
		// moves keeps a valid ARP entry for its gateway.
		mac := net.HardwareAddr(gw.MAC[:])
		if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
			// Some drivers refuse while up.
			up := l.Attrs().Flags&net.FlagUp != 0
			if up {
				netlink.LinkSetDown(l)
			}
			if err2 := netlink.LinkSetHardwareAddr(l, mac); err2 != nil {
				errs = append(errs, fmt.Errorf("gateway MAC %s: %w", gw.MAC, err2))
			}
			if up {
				if err := netlink.LinkSetUp(l); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for _, p := range []netip.Prefix{gw.IPv4, gw.IPv6} {
		if !p.IsValid() {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			// Every port (and leaf) has it: duplicate address detection
			// would only delay it.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrReplace(l, a); err != nil {
			errs = append(errs, fmt.Errorf("gateway address %s: %w", p, err))
		}
	}
	for _, s := range portSysctls {
		p := filepath.Join("/proc/sys/net", fmt.Sprintf(s.path, ifname))
		if err := os.WriteFile(p, []byte(s.value), 0o644); err != nil && !(s.optional && errors.Is(err, os.ErrNotExist)) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func hostRoute(prefix netip.Prefix, ifname string) (*netlink.Route, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	return &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: prefix.Addr().AsSlice(), Mask: net.CIDRMask(prefix.Bits(), prefix.Addr().BitLen())},
		Scope:     netlink.SCOPE_LINK,
		Protocol:  HostRouteProtocol,
		Priority:  HostRouteMetric,
	}, nil
}

// AddHostRoute installs prefix dev ifname.
func (LinuxHostNet) AddHostRoute(prefix netip.Prefix, ifname string) error {
	r, err := hostRoute(prefix, ifname)
	if err != nil {
		return err
	}
	return netlink.RouteReplace(r)
}

// DelHostRoute removes our route to prefix on ifname; one already gone
// (the port vanished) is not an error.
func (LinuxHostNet) DelHostRoute(prefix netip.Prefix, ifname string) error {
	r, err := hostRoute(prefix, ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// SetProxy adds or removes `ip -6 neigh proxy IP dev PORT`.
func (LinuxHostNet) SetProxy(ip netip.Addr, ifname string, on bool) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !on && errors.As(err, &nf) {
			return nil
		}
		return err
	}
	n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET6, Flags: netlink.NTF_PROXY, IP: ip.AsSlice()}
	if on {
		return netlink.NeighSet(n)
	}
	if err := netlink.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}
