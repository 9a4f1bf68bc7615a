package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
)

const labMoveUsage = `  move [--name NAME] SERVER --to LEAF[:IFACE] [--quiet] [--json]
        move a server (a VM) to another leaf of a --hosts neighbor fabric,
        keeping its IP, MAC and ARP cache; the old leaf's port stays up, so
        the old leaf learns of the move only from the network. The server
        sends a gratuitous ARP / unsolicited NA unless --quiet. Measurable:
        flows to and from the server; undo moves it back
        e.g. clos lab move server1 --to leaf2; clos lab measure --json -- move server1 --to leaf2`

func init() {
	labVerbs["move"] = labVerb{run: labMove, action: moveAction, usage: labMoveUsage}
}

type moveFlags struct {
	to    *string
	quiet *bool
}

func newMoveFlags(fs *flag.FlagSet) moveFlags {
	return moveFlags{
		to:    fs.String("to", "", "the leaf (or LEAF:IFACE server port) to move to (e.g. --to leaf2)"),
		quiet: fs.Bool("quiet", false, "send no gratuitous ARP / unsolicited NA after the move"),
	}
}

func (m moveFlags) server(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", &lab.InputError{Msg: fmt.Sprintf("want one SERVER, got %d arguments (%s), e.g. move server1 --to leaf2", len(pos), strings.Join(pos, " "))}
	}
	if *m.to == "" {
		return "", &lab.InputError{Msg: "missing --to LEAF, e.g. move server1 --to leaf2"}
	}
	return pos[0], nil
}

func labMove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("move", stderr)
	mf := newMoveFlags(fs)
	asJSON := fs.Bool("json", false, "print the move as JSON")
	s, f, pos, err := openLab(fs, name, args, false)
	if err != nil {
		return err
	}
	server, err := mf.server(pos)
	if err != nil {
		return err
	}
	r, err := lab.Move(ctx, s, f, server, *mf.to, lab.MoveOptions{Quiet: *mf.quiet})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	how := "quietly"
	if len(r.Announced) > 0 {
		how = "announced " + strings.Join(r.Announced, " ")
	}
	fmt.Fprintf(stdout, "lab %s: moved %s from %s to %s (%s)\n", s.Name, r.Port, r.From, r.To, how)
	return nil
}

func moveAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	fs := flag.NewFlagSet("clos lab measure -- move", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := newMoveFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	server, err := mf.server(pos)
	if err != nil {
		return nil, err
	}
	return lab.MoveAction(s, f, server, *mf.to, lab.MoveOptions{Quiet: *mf.quiet})
}
