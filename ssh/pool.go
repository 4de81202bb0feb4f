package ssh

import (
	"context"
	"fmt"
	"sync"
)

// Pool holds one Client per host, dialled on first use and reused by every
// phase. It is safe for concurrent use; concurrent first uses of one host
// share a single dial.
type Pool struct {
	configs map[string]Config

	mu      sync.Mutex
	clients map[string]*poolEntry
}

type poolEntry struct {
	once   sync.Once
	client *Client
	err    error
}

// NewPool returns a pool for the given host configs, keyed by Config.Name.
func NewPool(configs []Config) *Pool {
	p := &Pool{configs: map[string]Config{}, clients: map[string]*poolEntry{}}
	for _, c := range configs {
		p.configs[c.Name] = c
	}
	return p
}

// Client returns the connected client of host.
func (p *Pool) Client(ctx context.Context, host string) (*Client, error) {
	cfg, ok := p.configs[host]
	if !ok {
		return nil, fmt.Errorf("%s: not in the inventory", host)
	}
	p.mu.Lock()
	e := p.clients[host]
	if e == nil {
		e = &poolEntry{}
		p.clients[host] = e
	}
	p.mu.Unlock()
	e.once.Do(func() { e.client, e.err = Dial(ctx, cfg) })
	if e.err != nil {
		// Let a later call try again: the operator may have fixed the host.
		p.mu.Lock()
		if p.clients[host] == e {
			delete(p.clients, host)
		}
		p.mu.Unlock()
	}
	return e.client, e.err
}

// Run runs cmd on host.
func (p *Pool) Run(ctx context.Context, host string, cmd Command) (Result, error) {
	c, err := p.Client(ctx, host)
	if err != nil {
		return Result{}, err
	}
	return c.Run(ctx, cmd)
}

// Upload places f on host (see Client.Upload).
func (p *Pool) Upload(ctx context.Context, host string, f File) error {
	c, err := p.Client(ctx, host)
	if err != nil {
		return err
	}
	return c.Upload(ctx, f)
}

// Download reads a file from host (see Client.Download).
func (p *Pool) Download(ctx context.Context, host, path string) ([]byte, error) {
	c, err := p.Client(ctx, host)
	if err != nil {
		return nil, err
	}
	return c.Download(ctx, path)
}

// Close ends every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.clients {
		if e.client != nil {
			e.client.Close()
		}
	}
	p.clients = map[string]*poolEntry{}
	return nil
}
