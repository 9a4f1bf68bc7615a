// Package lab runs a planned fabric (fabric.yaml from clos plan) on one Linux
// box: a network namespace per switch and server, a veth per cable, and FRR
// or closd per switch. A running lab is described by a state file so that
// every clos lab verb works from a fresh process, and every name the lab
// creates carries the lab's prefix so that down can find leftovers even when
// the state is lost.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// Kinds of routing daemon a switch can run.
const (
	KindFRR   = "frr"
	KindClosd = "closd"
)

// InputError is a problem with what the user asked for (exit status 2),
// as opposed to an operation that failed (exit status 1).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputf(format string, a ...any) error { return &InputError{fmt.Sprintf(format, a...)} }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// CheckName validates a lab name: it becomes a directory name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return inputf("lab name %q: want 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Prefix is the short tag every namespace, temporary veth and nft table of
// the lab starts with: "cl" and 4 hex digits of the name's hash. It is
// derived from the name alone so down finds leftovers without a state file,
// and short so that prefix+"v"+index fits the 15 characters of an interface.
func Prefix(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("cl%04x", h.Sum32()&0xffff)
}

// Netns is the namespace of a node of the lab.
func Netns(prefix, node string) string { return prefix + "-" + node }

// vethName is the name of one end of link i while it is still in the root
// namespace, before it moves into its node and takes its planned name.
func vethName(prefix string, i int, end byte) string {
	return fmt.Sprintf("%sv%d%c", prefix, i, end)
}

// nftTable names the table that silently drops traffic on one interface.
func nftTable(prefix, iface string) string {
	return prefix + "_" + regexp.MustCompile(`[^A-Za-z0-9_]`).ReplaceAllString(iface, "_")
}

// BaseDir is where lab state lives: $CLOS_LAB_DIR, or /run/clos/labs.
func BaseDir() string {
	if d := os.Getenv("CLOS_LAB_DIR"); d != "" {
		return d
	}
	return "/run/clos/labs"
}

// State is a running lab, as saved in BASE/NAME/state.json.
type State struct {
	Name    string    `json:"name"`
	Prefix  string    `json:"prefix"`
	Fabric  string    `json:"fabric"` // copy of fabric.yaml in the state dir
	PlanDir string    `json:"plan-dir"`
	Closd   string    `json:"closd,omitempty"` // the closd binary up started, for restarts
	Created time.Time `json:"created"`
	Nodes   []Node    `json:"nodes"`
	// Failures are those applied by fail and not yet restored.
	Failures []Failure `json:"failures,omitempty"`
	// Ready is set once every session came up.
	Ready bool `json:"ready"`

	dir string
}

// Node is one namespace of the lab.
type Node struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Kind   string `json:"kind,omitempty"` // frr, closd; empty for servers
	Netns  string `json:"netns"`
	RunDir string `json:"run-dir,omitempty"` // FRR's pid/vty/socket dir
	Config string `json:"config,omitempty"`  // the daemon's config, copied into the state dir
	Log    string `json:"log,omitempty"`
	Socket string `json:"socket,omitempty"` // closd's API socket
	Pids   []int  `json:"pids,omitempty"`
}

// Failure is one failure applied by fail.
type Failure struct {
	Target string `json:"target"` // NODE:IFACE or NODE
	Mode   string `json:"mode"`   // link, silent, node
}

// Dir is the state directory of the lab.
func (s *State) Dir() string { return s.dir }

// Node returns the node named n.
func (s *State) Node(n string) (*Node, bool) {
	for i := range s.Nodes {
		if s.Nodes[i].Name == n {
			return &s.Nodes[i], true
		}
	}
	return nil, false
}

// Save writes the state file atomically.
func (s *State) Save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "state.json"))
}

// Load reads the state of lab name under base.
func Load(base, name string) (*State, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(base, name)
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab named %q is up (no %s)", name, filepath.Join(dir, "state.json"))
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v (run clos lab down --name %s to clean up)", filepath.Join(dir, "state.json"), err, name)
	}
	if s.Name != name || s.Prefix != Prefix(name) {
		return nil, fmt.Errorf("%s: belongs to lab %q, prefix %q; want %q, %q", filepath.Join(dir, "state.json"), s.Name, s.Prefix, name, Prefix(name))
	}
	s.dir = dir
	return &s, nil
}

// List names the labs with a state directory under base.
func List(base string) ([]string, error) {
	es, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ns []string
	for _, e := range es {
		if e.IsDir() && CheckName(e.Name()) == nil {
			ns = append(ns, e.Name())
		}
	}
	sort.Strings(ns)
	return ns, nil
}

// Resolve picks the lab a verb works on: name if given, else the only lab up.
func Resolve(base, name string) (string, error) {
	if name != "" {
		return name, CheckName(name)
	}
	ns, err := List(base)
	if err != nil {
		return "", err
	}
	switch len(ns) {
	case 0:
		return "", fmt.Errorf("no lab is up (no state under %s); start one with clos lab up FABRIC.yaml", base)
	case 1:
		return ns[0], nil
	}
	return "", inputf("several labs are up (%v); pick one with --name", ns)
}
