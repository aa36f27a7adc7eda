package streaming

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/stan.go"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Publish implements events.Transport: it returns nil once the server has
// stored msg. While the connection is down it waits for it to come back,
// and sends msg again if the connection dropped before the ack, until ctx
// ends (or Config.PublishWait, for a ctx without deadline); then it returns
// an error wrapping natsclient.ErrDisconnected and ctx's error. Sending again can store
// msg twice: delivery is at least once either way. msg.ID is not used;
// NATS Streaming does not deduplicate.
func (c *Client) Publish(ctx context.Context, msg events.Outgoing) error {
	return c.publish(ctx, []events.Outgoing{msg})[0]
}

// PublishBatch implements events.Transport. The messages are pipelined:
// up to Config.MaxPubAcksInFlight of them await their acks at once. A
// message whose ack was lost with the connection is sent again once it is
// back, after the rest of the batch, so it can end up stored after a later
// message of the same batch. errs[i] is msgs[i]'s fate, as for Publish.
func (c *Client) PublishBatch(ctx context.Context, msgs []events.Outgoing) (errs []error) {
	return c.publish(ctx, msgs)
}

type ack struct {
	i   int
	err error
}

// errPending marks a message sent and awaiting its ack.
var errPending = errors.New("streaming: awaiting ack")

func (c *Client) publish(ctx context.Context, msgs []events.Outgoing) []error {
	return c.conn.Publish(ctx, msgs, checkSubject, func(ctx context.Context, l *link, todo []int, errs []error) ([]int, error) {
		return c.send(ctx, l, msgs, todo, errs)
	})
}

// send publishes msgs[todo] on l and waits for their acks. It returns the
// messages worth sending again, with the last error that says why; the
// others' errs are final.
func (c *Client) send(ctx context.Context, l *link, msgs []events.Outgoing, todo []int, errs []error) (retry []int, last error) {
	sc := l.Session.sc
	// Acks that come after we stopped waiting land here unread: the
	// channel has room for all of them, so stan's goroutines never block.
	acks := make(chan ack, len(todo))
	sent := 0
	var order []int // msgs' indices in the order they went out on l
	for k, i := range todo {
		if err := c.acquire(ctx, l); err != nil {
			for _, j := range todo[k:] {
				errs[j] = err
			}
			break
		}
		_, err := sc.PublishAsync(msgs[i].Subject, msgs[i].Data, func(_ string, err error) {
			<-c.slots
			acks <- ack{i, err}
		})
		if err != nil {
			<-c.slots
			errs[i] = err
			if retryable(err) { // the rest would fail alike
				for _, j := range todo[k+1:] {
					errs[j] = err
				}
				break
			}
			continue
		}
		errs[i] = errPending
		order = append(order, i)
		sent++
	}

	var abandon error
	for got := 0; got < sent && abandon == nil; got++ {
		select {
		case a := <-acks:
			errs[a.i] = a.err
		case <-l.Down:
			abandon = natsconn.ErrLinkDown
		case <-ctx.Done():
			abandon = fmt.Errorf("%w (the server may still store the message)", ctx.Err())
		}
	}
	if abandon != nil {
		for drained := false; !drained; { // keep the acks that did come
			select {
			case a := <-acks:
				errs[a.i] = a.err
			default:
				drained = true
			}
		}
	}

	c.storedBeforeAcked(order, errs)

	retry = todo[:0]
	for _, i := range todo {
		err := errs[i]
		if err == errPending {
			err = abandon
			errs[i] = err
		}
		switch {
		case err == nil:
		case retryable(err):
			if sessionInvalid(err) {
				c.sessionLost(l.Session, err)
			}
			retry = append(retry, i)
			last = err
		default:
			errs[i] = fmt.Errorf("streaming: publish %s: %w", msgs[i].Subject, err)
		}
	}
	return retry, last
}

// storedBeforeAcked settles the messages whose ack timed out but that
// went out on the link before one the server did acknowledge. The server
// stores a connection's publishes in the order it reads them, so those
// were stored: their acks came too late (a server paused past the ack
// timeout answers everything at once when it resumes) and stan.go dropped
// them. Sending them again would only store them twice; NATS Streaming
// can't deduplicate, unlike JetStream with its message ids.
func (c *Client) storedBeforeAcked(order []int, errs []error) {
	last := -1
	for k, i := range order {
		if errs[i] == nil {
			last = k
		}
	}
	n := 0
	for _, i := range order[:last+1] {
		if errors.Is(errs[i], stan.ErrTimeout) {
			errs[i] = nil
			n++
		}
	}
	if n > 0 {
		c.log.Info("streaming: acks timed out for messages sent before acknowledged ones; taken as stored, not sent again", "messages", n)
	}
}

// acquire takes a slot for one unacknowledged message. Keeping our own
// count, no larger than stan's MaxPubAcksInflight, means stan's
// PublishAsync never blocks, and waiting here can honour ctx.
func (c *Client) acquire(ctx context.Context, l *link) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-l.Down:
		return natsconn.ErrLinkDown
	case <-ctx.Done():
		return ctx.Err()
	case <-c.conn.Context().Done():
		return natsclient.ErrClosed
	}
}

// CarriesHeaders implements events.HeaderCarrier: NATS Streaming messages
// are only their payload, which stays the bytes the Node services expect,
// so Outgoing.Header is dropped and Metadata.Header is always nil. Trace
// context and correlation ids don't cross NATS Streaming; on JetStream
// they do.
func (c *Client) CarriesHeaders() bool { return false }
