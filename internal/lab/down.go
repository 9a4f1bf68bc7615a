package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func prefixHas(prefix, addr string) bool {
	p, err1 := netip.ParsePrefix(prefix)
	a, err2 := netip.ParseAddr(addr)
	return err1 == nil && err2 == nil && p.Contains(a)
}

// leftoverNetns lists the namespaces carrying prefix.
func leftoverNetns(ctx context.Context, prefix string) []string {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil
	}
	var ns []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// leftoverLinks lists root-namespace interfaces carrying prefix: veths of a
// link that never moved into its nodes.
func leftoverLinks(ctx context.Context, prefix string) []string {
	out, err := run(ctx, "ip", "-j", "link", "show")
	if err != nil {
		return nil
	}
	var ls []struct {
		Name string `json:"ifname"`
	}
	_ = json.Unmarshal([]byte(out), &ls)
	var names []string
	for _, l := range ls {
		if strings.HasPrefix(l.Name, prefix+"v") {
			names = append(names, l.Name)
		}
	}
	return names
}

// Leftovers lists what of lab name still exists on the box: namespaces,
// root-namespace veths and nft tables with its prefix, FRR run dirs and the
// state dir. Down leaves nothing of this behind.
func Leftovers(ctx context.Context, base, name string) []string {
	prefix := Prefix(name)
	var left []string
	for _, n := range leftoverNetns(ctx, prefix) {
		left = append(left, "netns "+n)
	}
	for _, l := range leftoverLinks(ctx, prefix) {
		left = append(left, "link "+l)
	}
	if out, err := run(ctx, "nft", "list", "tables"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], prefix+"_") {
				left = append(left, "nft table "+f[2])
			}
		}
	}
	if ms, _ := filepath.Glob(filepath.Join("/var/run/frr", prefix+"-*")); len(ms) > 0 {
		for _, m := range ms {
			left = append(left, "dir "+m)
		}
	}
	if _, err := os.Stat(filepath.Join(base, name)); err == nil {
		left = append(left, "dir "+filepath.Join(base, name))
	}
	return left
}

// Down removes lab name: it kills every process in the lab's namespaces
// (daemons, and anything clos lab exec left running), deletes the namespaces
// (their veths and nft tables go with them), root-namespace veths with the
// prefix, FRR's run dirs and the state dir. It works from the prefix alone,
// so a half-made lab or one whose state file is gone comes down too.
func Down(ctx context.Context, base, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	prefix := Prefix(name)
	var errs []error
	pids := map[int]bool{}
	if s, err := Load(base, name); err == nil {
		for _, n := range s.Nodes {
			for _, p := range n.Pids {
				pids[p] = true
			}
		}
	}
	spaces := leftoverNetns(ctx, prefix)
	for _, ns := range spaces {
		out, _ := run(ctx, "ip", "netns", "pids", ns)
		for _, f := range strings.Fields(out) {
			if p, err := strconv.Atoi(f); err == nil {
				pids[p] = true
			}
		}
	}
	for p := range pids {
		// A pid from the state file may have been reused after a crash:
		// only kill it if it still lives in one of the lab's namespaces.
		if p > 1 && inLab(p, spaces) {
			kill(p)
		}
	}
	for _, ns := range spaces {
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range leftoverLinks(ctx, prefix) {
		// Deleting one end of a veth takes the other with it.
		if _, err := run(ctx, "ip", "link", "del", l); err != nil && slices.Contains(leftoverLinks(ctx, prefix), l) {
			errs = append(errs, err)
		}
	}
	ms, _ := filepath.Glob(filepath.Join("/var/run/frr", prefix+"-*"))
	for _, m := range ms {
		if err := os.RemoveAll(m); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(base, name)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab %s: down left things behind: %w", name, errors.Join(errs...))
	}
	return nil
}

// marker is the alias up gives every namespace's loopback and every veth
// while in the root namespace: it names the lab's state dir, so down --all
// finds this lab dir's labs by what is on the box even when the state dir
// is gone.
func marker(dir string) string { return "clos-lab " + dir }

var labNetnsRE = regexp.MustCompile(`^(cl[0-9a-f]{4})-`)
var labLinkRE = regexp.MustCompile(`^cl[0-9a-f]{4}v[0-9]+[ab]$`)

// ifAlias reads the alias of interface ifc in namespace ns ("" for the
// root namespace).
func ifAliases(ctx context.Context, ns string) map[string]string {
	args := []string{"ip", "-j", "link", "show"}
	if ns != "" {
		args = []string{"ip", "-n", ns, "-j", "link", "show"}
	}
	out, err := run(ctx, args...)
	if err != nil {
		return nil
	}
	var ls []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	_ = json.Unmarshal([]byte(out), &ls)
	m := map[string]string{}
	for _, l := range ls {
		m[l.Name] = l.Alias
	}
	return m
}

// Found lists the labs of base that exist on the box: those with a state
// dir, and those whose namespaces or root veths carry base's marker.
func Found(ctx context.Context, base string) ([]string, error) {
	names, err := List(base)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	add := func(alias string) {
		dir, ok := strings.CutPrefix(alias, "clos-lab ")
		if !ok || filepath.Dir(dir) != filepath.Clean(base) {
			return
		}
		n := filepath.Base(dir)
		if CheckName(n) == nil && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	out, _ := run(ctx, "ip", "netns", "list")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !labNetnsRE.MatchString(f[0]) {
			continue
		}
		add(ifAliases(ctx, f[0])["lo"])
	}
	for ifc, alias := range ifAliases(ctx, "") {
		if labLinkRE.MatchString(ifc) {
			add(alias)
		}
	}
	sort.Strings(names)
	return names, nil
}
