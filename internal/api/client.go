package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Client talks to one closd's API socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{
		Socket: path,
		hc: &http.Client{
			// A reload may take longer than a query (reloadTimeout).
			Timeout: 40 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", path)
				},
			},
		},
	}
}

// Get fetches path (like "/v1/bgp/summary") and returns the JSON body of a
// 2xx answer. Other answers become an error carrying the API's message.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// Post sends body as JSON to path and returns the JSON answer of a 2xx, or
// an error carrying the API's message.
func (c *Client) Post(ctx context.Context, path string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(data))
}

func (c *Client) do(ctx context.Context, method, path string, reqBody io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://closd"+path, reqBody)
	if err != nil {
		return nil, err
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("closd is not running or api.socket differs: %s: %w", c.Socket, unwrapURL(err))
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%s: %w (the socket is for root and its group; run as root or join that group)", c.Socket, unwrapURL(err))
		}
		return nil, fmt.Errorf("%s: %w", c.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", c.Socket, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, &StatusError{Status: resp.StatusCode, Message: e.Error}
		}
		return nil, &StatusError{Status: resp.StatusCode, Message: string(bytes.TrimSpace(body))}
	}
	return body, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// StatusError is a non-2xx answer of the API.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("closd: %s (HTTP %d)", e.Message, e.Status)
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.Get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: decoding %s: %w", c.Socket, path, err)
	}
	return nil
}

// Summary fetches GET /v1/bgp/summary.
func (c *Client) Summary(ctx context.Context) (Summary, error) {
	var s Summary
	return s, c.getJSON(ctx, SummaryPath, &s)
}

// Neighbors fetches GET /v1/bgp/neighbors.
func (c *Client) Neighbors(ctx context.Context) (Neighbors, error) {
	var n Neighbors
	return n, c.getJSON(ctx, NeighborsPath(""), &n)
}

// Routes fetches GET /v1/bgp/routes, filtered by prefix unless it is "".
func (c *Client) Routes(ctx context.Context, prefix string) (Routes, error) {
	var r Routes
	return r, c.getJSON(ctx, RoutesPath(prefix), &r)
}

// SummaryPath is the summary endpoint.
const SummaryPath = "/v1/bgp/summary"

// NeighborsPath is the endpoint of every neighbor, or of addr's.
func NeighborsPath(addr string) string {
	if addr == "" {
		return "/v1/bgp/neighbors"
	}
	return "/v1/bgp/neighbors/" + url.PathEscape(addr)
}

// RoutesPath is the routes endpoint, filtered by prefix unless it is "".
func RoutesPath(prefix string) string {
	if prefix == "" {
		return "/v1/bgp/routes"
	}
	return "/v1/bgp/routes?prefix=" + url.QueryEscape(prefix)
}
