package jsclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
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
		if s.Background {
			c.provisionInBackground(s)
			continue
		}
		if err := c.provisionRetrying(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) provisionRetrying(ctx context.Context, s Stream) error {
	return c.conn.Retry(ctx, "provision stream "+s.Name, retryable, func(*link) error {
		err := c.provision(ctx, s)
		if retryable(err) {
			c.log.Warn("jsclient: stream provisioning failed; retrying", "stream", s.Name, "error", err)
		}
		return err
	})
}

// provisionInBackground provisions s until it succeeds, a failure that
// retrying can't cure, or Close.
func (c *Client) provisionInBackground(s Stream) {
	ctx := c.conn.Context()
	c.background.Add(1)
	go func() {
		defer c.background.Done()
		if err := c.provisionRetrying(ctx, s); err != nil && ctx.Err() == nil {
			c.log.Error("jsclient: stream provisioning gave up; publishes to its subjects will fail", "stream", s.Name, "error", err)
		}
	}()
}

func (c *Client) provision(ctx context.Context, s Stream) error {
	rctx, cancel := c.request(ctx)
	defer cancel()
	want := s.jetstream()
	if !s.Exact {
		st, err := c.js.Stream(rctx, s.Name)
		switch {
		case err == nil:
			var kept []any
			want, kept = stronger(st.CachedInfo().Config, s)
			if len(kept) > 0 {
				c.log.Warn("jsclient: the stream's own settings are stronger than the configured ones; keeping them (Stream.Exact overrides)",
					append([]any{"stream", s.Name}, kept...)...)
			}
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return c.provisionError(ctx, s, err)
		}
	}
	st, err := c.js.CreateOrUpdateStream(rctx, want)
	if err != nil {
		return c.provisionError(ctx, s, err)
	}
	c.log.Debug("jsclient: stream provisioned", "stream", s.Name, "subjects", st.CachedInfo().Config.Subjects, "replicas", st.CachedInfo().Config.Replicas)
	return nil
}

// provisionError classifies a failed stream request: the server's refusal
// is a bad config; a request that timed out is the stream (or the API)
// without a leader while the connection is up, else the link going down.
func (c *Client) provisionError(ctx context.Context, s Stream, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code != 503 {
		return fmt.Errorf("jsclient: provision stream %s: %w: %w", s.Name, natsclient.ErrInvalidConfig, err)
	}
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)) {
		if c.nc.IsConnected() {
			err = fmt.Errorf("%w: %w", ErrStreamUnavailable, err)
		} else {
			err = fmt.Errorf("%w: %w", natsconn.ErrLinkDown, err) // the request's own timeout: retry
		}
	}
	return fmt.Errorf("jsclient: provision stream %s: %w", s.Name, err)
}

// stronger merges an existing stream's settings (have) with the
// configured ones (s): what is stronger of each, and the stream's own
// settings of what s leaves unset (zero) or doesn't configure at all.
// kept lists, as log attributes, where have won over s.
func stronger(have jetstream.StreamConfig, s Stream) (jetstream.StreamConfig, []any) {
	want := s.jetstream()
	out := have // the operator's MaxMsgSize, MaxConsumers, Discard, placement...
	var kept []any
	out.Description = want.Description
	out.Retention, out.Storage = want.Retention, want.Storage // the server refuses to change these: say so
	out.Subjects = want.Subjects
	var extra []string
	for _, subj := range have.Subjects {
		if !slices.Contains(want.Subjects, subj) {
			extra = append(extra, subj)
		}
	}
	if len(extra) > 0 {
		out.Subjects = append(slices.Clone(want.Subjects), extra...)
		kept = append(kept, "subjects_kept", extra)
	}
	out.Replicas = max(have.Replicas, want.Replicas)
	if have.Replicas > want.Replicas {
		kept = append(kept, "replicas", have.Replicas, "replicas_configured", want.Replicas)
	}
	// A limit s sets is raised, never lowered; one it leaves unset stays
	// as the stream has it.
	limit := func(name string, h, w, configured, unlimited int64) int64 {
		switch {
		case configured == 0 || h == w:
			return h
		case h == unlimited || (w != unlimited && h > w):
			kept = append(kept, name, h, name+"_configured", w)
			return h
		default:
			return w
		}
	}
	out.MaxAge = time.Duration(limit("max_age", int64(have.MaxAge), int64(want.MaxAge), int64(s.MaxAge), 0))
	out.MaxBytes = limit("max_bytes", have.MaxBytes, want.MaxBytes, s.MaxBytes, -1)
	out.MaxMsgs = limit("max_msgs", have.MaxMsgs, want.MaxMsgs, s.MaxMsgs, -1)
	out.MaxMsgsPerSubject = limit("max_msgs_per_subject", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject, s.MaxMsgsPerSubject, -1)
	out.Duplicates = max(have.Duplicates, want.Duplicates)
	if have.Duplicates > want.Duplicates {
		kept = append(kept, "duplicates", have.Duplicates, "duplicates_configured", want.Duplicates)
	}
	return out, kept
}
