package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// SocketMode lets the owner and its group (the operators) use the API.
const SocketMode = 0o660

// Listen opens the API's unix socket at path. The parent directory is made
// (0755) if missing. A socket file left by a dead daemon is replaced; one a
// live daemon answers on is refused, so a second closd cannot steal the
// first one's API. Anything that is not a socket is never removed.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("api socket %s: exists and is not a socket; remove it or set api.socket elsewhere", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("api socket %s: another process is serving on it (is closd already running?)", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("api socket %s: removing the stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	// Chmod after bind: the umask decides the mode bind gives it.
	if err := os.Chmod(path, SocketMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	return l, nil
}

// Server is a running API server.
type Server struct {
	path string
	srv  *http.Server
	done chan error
}

// Start listens on path and serves h until Close, to root, the daemon's
// user and the socket's group only (Allowed); others get 403.
func Start(path string, h http.Handler) (*Server, error) {
	l, err := Listen(path)
	if err != nil {
		return nil, err
	}
	gid, err := socketGID(path)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	s := &Server{
		path: path,
		srv: &http.Server{Handler: guard(h, uint32(os.Geteuid()), gid), ReadHeaderTimeout: 5 * time.Second,
			ConnContext: connContext},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting, lets requests in flight finish within ctx and
// removes the socket file so the next start finds no stale one.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	// net.UnixListener removes the file on Close; this covers a listener
	// that did not (for example after the file was replaced).
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
