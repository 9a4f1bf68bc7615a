package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/closnet/clos/internal/daemon"
)

// The read-only endpoints beyond BGP's core: update groups, the FIB and
// the interfaces. Each reads the daemon through a small interface of its
// own so that a Backend without it answers 404.

// UpdateGroups is GET /v1/bgp/update-groups.
type UpdateGroups struct {
	Groups []daemon.UpdateGroup `json:"update_groups"`
}

// Interfaces is GET /v1/interfaces.
type Interfaces struct {
	Interfaces []daemon.InterfaceStatus `json:"interfaces"`
}

// Paths of the endpoints.
const (
	UpdateGroupsPath = "/v1/bgp/update-groups"
	FIBPath          = "/v1/fib"
	InterfacesPath   = "/v1/interfaces"
)

func init() {
	RegisterEndpoint(Endpoint{
		Path:    UpdateGroupsPath,
		Summary: "update groups: members, export policy, prefixes per family",
		Get: func(ctx context.Context, b Backend, _ *http.Request) (any, error) {
			s, ok := b.(interface {
				UpdateGroups(context.Context) ([]daemon.UpdateGroup, error)
			})
			if !ok {
				return nil, Errorf(http.StatusNotFound, "this closd reports no update groups")
			}
			gs, err := s.UpdateGroups(ctx)
			if gs == nil {
				gs = []daemon.UpdateGroup{}
			}
			return UpdateGroups{Groups: gs}, err
		},
	})
	RegisterEndpoint(Endpoint{
		Path:    FIBPath,
		Summary: "routes closd wants in the kernel against the kernel's, with differences",
		Get: func(ctx context.Context, b Backend, _ *http.Request) (any, error) {
			s, ok := b.(interface {
				FIB(context.Context) (daemon.FIBStatus, error)
			})
			if !ok {
				return nil, Errorf(http.StatusNotFound, "this closd reports no FIB")
			}
			st, err := s.FIB(ctx)
			if errors.Is(err, daemon.ErrNoFIB) {
				return nil, Errorf(http.StatusNotFound, "%s", err.Error())
			}
			return st, err
		},
	})
	RegisterEndpoint(Endpoint{
		Path:    InterfacesPath,
		Summary: "interfaces: state, addresses, BGP neighbors on them, routes through them",
		Get: func(ctx context.Context, b Backend, _ *http.Request) (any, error) {
			s, ok := b.(interface {
				Interfaces(context.Context) ([]daemon.InterfaceStatus, error)
			})
			if !ok {
				return nil, Errorf(http.StatusNotFound, "this closd reports no interfaces")
			}
			is, err := s.Interfaces(ctx)
			return Interfaces{Interfaces: is}, err
		},
	})
}

// RenderUpdateGroups writes the groups as vtysh's `show bgp update-groups`.
func RenderUpdateGroups(w io.Writer, u UpdateGroups) error {
	var b strings.Builder
	if len(u.Groups) == 0 {
		b.WriteString("No update groups (no established session)\n")
	}
	for i, g := range u.Groups {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Update-group %d:\n", g.ID)
		fmt.Fprintf(&b, "  Type: %s, local AS %d\n", g.Type, g.LocalAS)
		fmt.Fprintf(&b, "  Export policy: %s\n", orDash(g.Export))
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{g.NextHopSelf, "next-hop-self"}, {g.RemovePrivateAS, "remove-private-as"}, {g.DefaultOriginate, "default-originate"}, {g.AddPath, "add-path"}} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, "  Flags: %s\n", strings.Join(flags, ", "))
		}
		var fams []string
		for _, f := range []string{"ipv4-unicast", "ipv6-unicast"} {
			if n, ok := g.Prefixes[f]; ok {
				fams = append(fams, fmt.Sprintf("%s %d", f, n))
			}
		}
		fmt.Fprintf(&b, "  Advertised prefixes: %s\n", orDash(strings.Join(fams, ", ")))
		fmt.Fprintf(&b, "  Pending: %d\n", g.Pending)
		fmt.Fprintf(&b, "  Members (%d):\n", len(g.Members))
		for _, m := range g.Members {
			fmt.Fprintf(&b, "    %s\n", m)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nhText(ns []daemon.FIBNexthop, blackhole bool) string {
	if blackhole {
		return "blackhole"
	}
	if ns == nil {
		return "-"
	}
	var parts []string
	for _, n := range ns {
		s := "via " + n.Gateway.String()
		if !n.Gateway.IsValid() {
			s = "dev"
		}
		name := n.Interface
		if name == "" {
			name = "ifindex " + strconv.Itoa(n.Ifindex)
		}
		s += " " + name
		if n.Weight > 1 {
			s += fmt.Sprintf(" weight %d", n.Weight)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "(no usable next hop)"
	}
	return strings.Join(parts, ", ")
}

// RenderFIB writes what closd wants in the kernel beside what is there.
func RenderFIB(w io.Writer, f daemon.FIBStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Routes wanted %d, next-hop groups %d, kernel writes %d, differences %d\n\n", f.Wanted, f.Groups, f.Writes, f.Differences)
	t := table{align: "lll"}
	t.add("Status", "Prefix", "Wanted", "Kernel")
	for _, r := range f.Routes {
		t.add(r.Status, r.Prefix.String(), nhText(r.Want, r.WantBlackhole), nhText(r.Kernel, r.KernelBlackhole))
	}
	t.write(&b)
	if len(f.Failures) > 0 {
		fmt.Fprintf(&b, "\nWrites being retried (%d):\n", len(f.Failures))
		ft := table{indent: "  "}
		ft.add("Op", "Target", "Tries", "Error")
		for _, x := range f.Failures {
			target := x.Object
			if x.Prefix.IsValid() {
				target = x.Prefix.String()
			}
			ft.add(x.Op, target, strconv.Itoa(x.Tries), x.Error)
		}
		ft.write(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderInterfaces writes the interfaces as a table.
func RenderInterfaces(w io.Writer, is Interfaces) error {
	var b strings.Builder
	t := table{align: "lrllllr"}
	t.add("Interface", "Index", "Admin", "Oper", "Addresses", "BGP neighbors", "Routes")
	updown := func(up bool) string {
		if up {
			return "up"
		}
		return "down"
	}
	for _, i := range is.Interfaces {
		var as, ns []string
		for _, a := range i.Addrs {
			as = append(as, a.String())
		}
		for _, n := range i.Neighbors {
			ns = append(ns, n.String())
		}
		t.add(i.Name, strconv.Itoa(i.Index), updown(i.AdminUp), updown(i.OperUp),
			orDash(strings.Join(as, ", ")), orDash(strings.Join(ns, ", ")), strconv.Itoa(i.Routes))
	}
	t.write(&b)
	_, err := io.WriteString(w, b.String())
	return err
}
