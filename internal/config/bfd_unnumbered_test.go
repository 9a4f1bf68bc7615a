package config

import "testing"

// TestBFDUnnumberedNeighbor: `bfd` on an interface neighbor is accepted; a
// standalone link-local peer on the same interface would be its session
// and is refused, one on another interface or a numbered one is not.
func TestBFDUnnumberedNeighbor(t *testing.T) {
	const nb = bfdBase + "neighbors:\n  - {interface: swp1, remote-as: external, bfd: true}\n"
	c, err := Parse("u.yaml", []byte(nb+"bfd:\n  peers:\n    - {address: 'fe80::1', interface: swp2}\n    - {address: 10.9.0.1, interface: swp1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Neighbors[0].BFD.Enabled || c.Neighbors[0].Interface != "swp1" || len(c.BFD.Peers) != 2 {
		t.Errorf("parsed %+v", c)
	}
	wantParseErrors(t, "u.yaml", nb+"bfd:\n  peers:\n    - {address: 'fe80::1', interface: swp1}\n",
		[]string{"u.yaml:7: bfd.peers[0]: neighbors[0] (interface swp1) already runs BFD to the peer on swp1 (bfd: on the neighbor); drop this peer or the neighbor's bfd"})
}
