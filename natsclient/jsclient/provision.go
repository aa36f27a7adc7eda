package jsclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Provision creates each stream, or updates it to match if it exists: it
// is idempotent, and safe to run from every instance of every service at
// startup (Connect does it for Config.Streams). A change the server can't
// apply in place (storage, or subjects another stream captures) is an
// error wrapping natsclient.ErrInvalidConfig and the server's. Transient failures
// (JetStream starting, no quorum) are retried until ctx ends.
func (c *Client) Provision(ctx context.Context, streams ...Stream) error {
	checked := make([]Stream, len(streams))
	for i, s := range streams {
		var err error
		if checked[i], err = s.withDefaults(); err != nil {
			return fmt.Errorf("jsclient: %w: stream %q: %v", natsclient.ErrInvalidConfig, s.Name, err)
		}
	}
	return c.provisionLoop(ctx, checked)
}

func (c *Client) provisionLoop(ctx context.Context, streams []Stream) error {
	for _, s := range streams {
		err := c.conn.Retry(ctx, "provision stream "+s.Name, retryable, func(*link) error {
			err := c.provision(ctx, s)
			if retryable(err) {
				c.log.Warn("jsclient: stream provisioning failed; retrying", "stream", s.Name, "error", err)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) provision(ctx context.Context, s Stream) error {
	rctx, cancel := c.request(ctx)
	defer cancel()
	want := s.jetstream()
	st, err := c.js.CreateOrUpdateStream(rctx, want)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code != 503 {
			return fmt.Errorf("jsclient: provision stream %s: %w: %w", s.Name, natsclient.ErrInvalidConfig, err)
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", natsconn.ErrLinkDown, err) // the request's own timeout: retry
		}
		return fmt.Errorf("jsclient: provision stream %s: %w", s.Name, err)
	}
	c.log.Debug("jsclient: stream provisioned", "stream", s.Name, "subjects", st.CachedInfo().Config.Subjects)
	return nil
}
