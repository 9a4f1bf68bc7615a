package config

import (
	"strings"
	"testing"
)

func TestSoftReconfigInbound(t *testing.T) {
	const base = "router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.1\n    remote-as: 65002\n"
	c, err := Parse("x.yaml", []byte(base+"    soft-reconfiguration-inbound: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Neighbors[0].SoftReconfigInbound {
		t.Errorf("soft-reconfiguration-inbound: true not read")
	}
	out, err := c.Marshal()
	if err != nil || !strings.Contains(string(out), "soft-reconfiguration-inbound: true") {
		t.Errorf("marshal lost the field: %v\n%s", err, out)
	}
	if c, err := Parse("x.yaml", []byte(base)); err != nil || c.Neighbors[0].SoftReconfigInbound {
		t.Errorf("default: %v %v", c.Neighbors[0].SoftReconfigInbound, err)
	}
	_, err = Parse("x.yaml", []byte(base+"    soft-reconfiguration-inbound: maybe\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:6") || !strings.Contains(err.Error(), "soft-reconfiguration-inbound") {
		t.Errorf("bad value: %v; want an error naming x.yaml:6 and the field", err)
	}
}
