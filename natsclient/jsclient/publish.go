package jsclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Publish implements events.Transport: it returns nil once a stream has
// stored msg (or recognised it as a duplicate). msg.ID is sent as
// Nats-Msg-Id, so the stream drops a second copy with the same ID within
// its duplicate window: the outbox relay's stable IDs make its retries, and
// a crash between publish and mark, exactly once within that window. An
// empty ID gets a fresh one, which still deduplicates this call's own
// retries.
//
// While the connection is down Publish waits for it to come back, and
// sends msg again if the connection dropped (or the ack timed out) before
// the ack, until ctx ends (or Config.PublishWait, for a ctx without
// deadline); then it returns an error wrapping natsclient.ErrDisconnected and ctx's
// error. A subject no stream captures fails at once with ErrNoStream.
func (c *Client) Publish(ctx context.Context, msg events.Outgoing) error {
	return c.publish(ctx, []events.Outgoing{msg})[0]
}

// PublishBatch implements events.Transport. The messages are pipelined
// (asynchronous publishes): up to Config.MaxPubAcksInFlight of them await
// their acks at once, over all calls. A message whose ack was lost with the
// connection is sent again once it is back, after the rest of the batch;
// deduplication keeps it from being stored twice, but it can end up stored
// after a later message of the same batch. errs[i] is msgs[i]'s fate, as
// for Publish.
func (c *Client) PublishBatch(ctx context.Context, msgs []events.Outgoing) (errs []error) {
	return c.publish(ctx, msgs)
}

// errPending marks a message sent and awaiting its ack.
var errPending = errors.New("jsclient: awaiting ack")

// stallWait paces the retries of a publish that found
// MaxPubAcksInFlight acks outstanding, so that ctx is checked between them.
const stallWait = 100 * time.Millisecond

func (c *Client) publish(ctx context.Context, msgs []events.Outgoing) []error {
	ids := make([]string, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
		if ids[i] == "" {
			ids[i] = nuid.Next()
		}
	}
	return c.conn.Publish(ctx, msgs, checkSubject, func(ctx context.Context, l *link, todo []int, errs []error) ([]int, error) {
		return c.send(ctx, l, msgs, ids, todo, errs)
	})
}

// send publishes msgs[todo] on l and waits for their acks. It returns the
// messages worth sending again, with the last error that says why; the
// others' errs are final.
func (c *Client) send(ctx context.Context, l *link, msgs []events.Outgoing, ids []string, todo []int, errs []error) (retry []int, last error) {
	futures := make(map[int]jetstream.PubAckFuture, len(todo))
	for k, i := range todo {
		f, err := c.publishAsync(ctx, l, msgs[i], ids[i])
		if err != nil {
			errs[i] = err
			if retryable(err) || ctx.Err() != nil { // the rest would fail alike
				for _, j := range todo[k+1:] {
					errs[j] = err
				}
				break
			}
			continue
		}
		futures[i] = f
		errs[i] = errPending
	}

	var abandon error
	for _, i := range todo {
		f, ok := futures[i]
		if !ok {
			continue
		}
		if abandon == nil {
			select {
			case <-f.Ok():
				errs[i] = nil
				continue
			case err := <-f.Err():
				errs[i] = err
				continue
			case <-l.Down:
				abandon = natsconn.ErrLinkDown
			case <-ctx.Done():
				abandon = fmt.Errorf("%w (the server may still store the message)", ctx.Err())
			}
		}
		select { // keep the acks that did come
		case <-f.Ok():
			errs[i] = nil
		case err := <-f.Err():
			errs[i] = err
		default:
		}
	}

	retry = todo[:0]
	noStreams := make(map[string]bool)
	for _, i := range todo {
		err := errs[i]
		if err == errPending {
			err = abandon
			errs[i] = err
		}
		subject := msgs[i].Subject
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrNoStreamResponse) && c.noStream(ctx, subject, noStreams):
			errs[i] = noStreamError("publish", subject)
		case retryable(err) && ctx.Err() == nil:
			retry = append(retry, i)
			last = err
		case retryable(err) && c.nc.IsConnected() && (errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, ErrStreamUnavailable)):
			// Connected, but the stream did not answer: no leader.
			errs[i] = fmt.Errorf("jsclient: publish %s: %w: %w (last error: %w)", subject, ErrStreamUnavailable, ctx.Err(), err)
		case retryable(err):
			errs[i] = c.conn.Disconnected("publish "+subject, ctx.Err(), err)
		default:
			errs[i] = fmt.Errorf("jsclient: publish %s: %w", subject, err)
		}
	}
	return retry, last
}

// publishAsync sends one message, waiting (within ctx, while the link is
// up) while MaxPubAcksInFlight acks are outstanding.
func (c *Client) publishAsync(ctx context.Context, l *link, msg events.Outgoing, id string) (jetstream.PubAckFuture, error) {
	for {
		m := &nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: nats.Header{}}
		for k, v := range msg.Header {
			m.Header.Set(k, v)
		}
		f, err := c.js.PublishMsgAsync(m,
			jetstream.WithMsgID(id),
			jetstream.WithRetryAttempts(0), // ours retry, with backoff and ctx
			jetstream.WithStallWait(stallWait),
		)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		select {
		case <-l.Down:
			return nil, natsconn.ErrLinkDown
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.conn.Context().Done():
			return nil, natsclient.ErrClosed
		default:
		}
	}
}

// noStream reports whether the server says no stream captures subject,
// asking once per subject and send (cache).
func (c *Client) noStream(ctx context.Context, subject string, cache map[string]bool) bool {
	if none, ok := cache[subject]; ok {
		return none
	}
	rctx, cancel := c.request(ctx)
	defer cancel()
	_, err := c.js.StreamNameBySubject(rctx, subject)
	none := errors.Is(err, jetstream.ErrStreamNotFound)
	cache[subject] = none
	return none
}
