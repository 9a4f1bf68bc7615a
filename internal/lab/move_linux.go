package lab

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// announce sends, from ifname in namespace ns, a gratuitous ARP for each
// IPv4 address and an unsolicited NA for each IPv6 one, twice 50 ms apart
// (hypervisors repeat them: the first may meet a port still learning).
func announce(ns, ifname string, addrs []netip.Addr) error {
	return inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%s has no Ethernet address", ifname)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for round := 0; round < 2; round++ {
			if round > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			for _, a := range addrs {
				frame, proto, dst := announcement(ifi.HardwareAddr, a)
				sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(proto), Halen: 6}
				copy(sa.Addr[:], dst)
				if err := unix.Sendto(fd, frame, 0, sa); err != nil {
					return fmt.Errorf("announcing %s on %s: %w", a, ifname, err)
				}
			}
		}
		return nil
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
