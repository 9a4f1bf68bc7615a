// Command closd is the clos routing daemon: BGP-4, BFD, the kernel FIB, host
// routes learned from ARP/ND and health-checked anycast service addresses.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/fib"
)

// sigterm receives SIGTERM: with drain.on-sigterm closd drains its
// services before it stops (daemon.StopAfterDrain).
var sigterm = make(chan os.Signal, 2)

func main() {
	bfd.MaybeRunChild() // closd started again as its own BFD process
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	signal.Notify(sigterm, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("closd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/closd/closd.yaml", "the config file to run with")
	check := fs.String("check-config", "", "only load and validate this config `FILE`, print the result and exit (0 valid, 2 invalid)")
	logLevel := fs.String("log-level", "", "override log.level of the config: debug, info, warn, error")
	logFormat := fs.String("log-format", "", "override log.format of the config: text, json")
	useFIB := fs.Bool("fib", true, "install best paths in the kernel's routing table (false: run BGP only)")
	apiSocket := fs.String("api-socket", "", "override api.socket of the config: the control API's unix `SOCKET`")
	bfdProcess := fs.Bool("bfd-process", true, "run BFD sessions in a child process of closd, at high priority (false: inside closd)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: closd [--config FILE] [--log-level L] [--log-format F] [--fib=false] [--api-socket PATH] [--bfd-process=false] | closd --check-config FILE")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "closd runs until SIGINT or SIGTERM. Routes it installed stay in the")
		fmt.Fprintln(stderr, "kernel either way, so the next closd adopts them.")
		fmt.Fprintln(stderr, "SIGTERM with graceful-restart mode restart (the default with the FIB)")
		fmt.Fprintln(stderr, "is a graceful restart's stop: sessions close without a NOTIFICATION and")
		fmt.Fprintln(stderr, "BFD peers are told AdminDown, so peers keep forwarding to this node while")
		fmt.Fprintln(stderr, "it restarts (RFC 4724); the next closd sends its End-of-RIB once it has")
		fmt.Fprintln(stderr, "its peers', then removes the kernel routes nobody re-learned.")
		fmt.Fprintln(stderr, "SIGINT, and SIGTERM in modes helper and off, close every session with")
		fmt.Fprintln(stderr, "Cease/Administrative Shutdown. On SIGTERM with anycast services and")
		fmt.Fprintln(stderr, "drain.on-sigterm (the default), closd first drains them and waits for the")
		fmt.Fprintln(stderr, "drain time; a second SIGTERM or SIGINT stops at once.")
		fmt.Fprintln(stderr, "SIGHUP (or clos reload) reads the config file again: unchanged")
		fmt.Fprintln(stderr, "neighbors keep their sessions, a file with an error is refused and the")
		fmt.Fprintln(stderr, "running config stays.")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "examples:")
		fmt.Fprintln(stderr, "  closd --check-config /etc/closd/closd.yaml")
		fmt.Fprintln(stderr, "  closd --config /etc/closd/closd.yaml --log-level debug")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "closd: unexpected argument %q; closd takes only flags (see closd --help)\n", fs.Arg(0))
		return 2
	}
	if *check != "" {
		cfg, err := config.Load(*check)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		fmt.Fprintf(stdout, "%s: valid (router-id %s, asn %d, %d neighbors)\n", *check, cfg.RouterID, cfg.ASN, len(cfg.Neighbors))
		if _, err := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			fmt.Fprintf(stderr, "%s: note: this build of closd cannot run it: %v\n", *check, err)
		}
		return 0
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	level, format := cfg.Log.Level, cfg.Log.Format
	if *logLevel != "" {
		level = *logLevel
	}
	if *logFormat != "" {
		format = *logFormat
	}
	logger, err := newLogger(stderr, level, format)
	if err != nil {
		fmt.Fprintf(stderr, "closd: %v\n", err)
		return 2
	}
	if daemon.TuneHostRuntime(cfg, os.Getenv) {
		logger.Info("role host: GOMAXPROCS set", "procs", daemon.HostProcs)
	}
	opts := daemon.Options{Logger: logger, ConfigPath: *configPath, BFDProcess: *bfdProcess}
	if *useFIB {
		b, err := fib.NewLinux(fib.LinuxConfig{})
		if err != nil {
			fmt.Fprintf(stderr, "closd: kernel routing table: %v (run as root, or with --fib=false to run BGP only)\n", err)
			return 1
		}
		defer b.Close()
		opts.FIB = b
	}
	d, err := daemon.New(cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *configPath, err)
		return 2
	}
	socket := cfg.API.Socket
	if *apiSocket != "" {
		socket = *apiSocket
	}
	srv, err := api.Start(socket, api.NewHandler(d, api.Info{RouterID: cfg.RouterID, ASN: cfg.ASN}))
	if err != nil {
		fmt.Fprintf(stderr, "closd: control API: %v (set api.socket in the config or --api-socket to a path closd may create)\n", err)
		return 1
	}
	logger.Info("control API listening", "socket", socket)
	if a := cfg.Metrics.Address; a != "" {
		ms, err := daemon.ListenMetrics(a, d)
		if err != nil {
			fmt.Fprintf(stderr, "closd: %v (set metrics.address to a free host:port, or leave it out to serve no metrics)\n", err)
			srv.Close(context.Background())
			return 1
		}
		defer ms.Close(context.Background())
		logger.Info("metrics listening", "address", ms.Addr().String())
	}
	stopHUP := reloadOnHUP(ctx, d)
	runErr := d.Run(d.StopAfterDrain(ctx, sigterm))
	stopHUP()
	// The API stops after the daemon so `clos show` sees the sessions close;
	// requests made after Run returned get 503 (daemon not running).
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		logger.Warn("control API did not stop cleanly", "socket", socket, "err", err)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "closd: %v\n", runErr)
		return 1
	}
	return 0
}

// reloadOnHUP reloads the config file on every SIGHUP until the returned
// stop is called. The daemon logs what the reload did, or why it refused
// the file (the old config then keeps running).
func reloadOnHUP(ctx context.Context, d *daemon.Daemon) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hup:
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				d.Reload(rctx)
				cancel()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "", "info":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
