package daemon

import "github.com/closnet/clos/internal/bfd"

// newBFD opens the daemon's BFD runner: with Options.BFDProcess, a child
// process that the daemon's own Go scheduler cannot delay (bfd.Client);
// else, or when the child cannot start, a bfd.Server in this process.
// Either way it is opened in the network namespace of the calling
// goroutine's thread.
func (d *Daemon) newBFD() (bfd.Runner, error) {
	tr := d.o.BFDTransport
	if tr == nil {
		tr = &bfd.UDPTransport{}
	}
	if udp, ok := tr.(*bfd.UDPTransport); ok && d.o.BFDProcess {
		c, err := bfd.NewClient(bfd.ClientConfig{
			ListenAddrs: udp.ListenAddrs, Port: udp.Port, MultihopPort: udp.MultihopPort,
			OnStateChange: d.bfdChanged, Logger: d.log,
		})
		if err == nil {
			return c, nil
		}
		d.log.Warn("bfd: cannot run BFD in a child process; running it inside closd", "err", err)
	}
	return bfd.NewServer(bfd.ServerConfig{Transport: tr, OnStateChange: d.bfdChanged})
}
