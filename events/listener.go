package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketkit/ticketkit/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Handler handles one event. Returning nil acknowledges the message; an
// error leaves it for redelivery after the ack wait. ctx is cancelled when
// the Listener is closed with an expired context.
type Handler[E Event] func(ctx context.Context, e E, meta Metadata) error

// DeadLetter is a message the Listener gave up on: undecodable, failed
// with a Permanent error, or failed on its last allowed delivery
// (MaxDeliveries).
type DeadLetter struct {
	Metadata
	Data []byte
	Err  error
}

// ErrDecode is wrapped by the error of every payload that can't be decoded:
// not a JSON object, wrong types, or failing its own validation.
var ErrDecode = errors.New("events: undecodable payload")

// Decode decodes a payload of type E as the Node services write it:
// unknown fields are ignored, wrong types and invalid values are errors
// wrapping ErrDecode.
func Decode[E Event](data []byte) (E, error) {
	var e E
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return e, fmt.Errorf("%w: %s: not a JSON object", ErrDecode, e.Subject())
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%w: %s: %v", ErrDecode, e.Subject(), err)
	}
	// Through the pointer: e already lives on the heap for Unmarshal, and
	// boxing the value would copy it there again.
	if v, ok := any(&e).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return e, fmt.Errorf("%w: %s: %v", ErrDecode, e.Subject(), err)
		}
	}
	return e, nil
}

// Permanent marks a handler error as one no redelivery can mend: the
// Listener hands the message to the dead-letter hook at once instead of
// leaving it to come back. Errors not so marked are retried, so an outage
// of the handler's own dependencies never throws messages away.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

var errPermanent = errors.New("events: permanent failure")

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent: a handler's test checks its errors with it, and the outbox
// relay dead-letters a publish failing with one (a transport marks, say, a
// payload over the broker's limit) without further attempts.
func IsPermanent(err error) bool { return errors.Is(err, errPermanent) }

type permanentError struct{ err error }

func (p permanentError) Error() string   { return p.err.Error() }
func (p permanentError) Unwrap() []error { return []error{p.err, errPermanent} }

// Listener delivers the events of one subject to a handler.
type Listener struct {
	subject   Subject
	transport Transport
	cfg       config
	metrics   handlerMetrics
	tracer    trace.Tracer
	spanName  string
	call      func(ctx context.Context, data []byte, meta Metadata) (decodeErr, handlerErr error)
	sub       Subscription

	ctx    context.Context // handlers' context, cancelled by a forced Close
	cancel context.CancelFunc
	sem    chan struct{} // handler slots when concurrency > 1

	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup
	stop     chan struct{} // closed when Close starts

	dlMu        sync.Mutex
	dlFailures  map[string]int // failed dead-letter attempts, where the transport counts no deliveries
	earlyCounts map[string]int // out-of-order refusals, likewise
	acked       recentKeys     // messages this Listener acknowledged lately
	early       map[string]earlyRetry

	stallStart  atomic.Int64 // unix nanoseconds; 0 while nothing waits (see Stalled)
	stallWarned atomic.Bool
	drained     chan struct{} // closed when the last in-flight handler returns
	subOnce     sync.Once
	subDone     chan struct{} // closed once the subscription is closed
	subErr      error         // written before subDone closes
}

// Listen subscribes h to the events of type E in queueGroup, durable under
// the queue group's name unless Durable says otherwise. ctx bounds the
// subscribe call only; the Listener runs until Close.
func Listen[E Event](ctx context.Context, t Transport, queueGroup string, h Handler[E], opts ...ListenerOption) (*Listener, error) {
	var zero E
	subject := zero.Subject()
	if queueGroup == "" {
		return nil, fmt.Errorf("%w: empty queue group", ErrInvalidOption)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	cfg, err := newConfig(listenerOptions(opts))
	if err != nil {
		return nil, err
	}
	if cfg.durable == "" {
		cfg.durable = queueGroup
	}
	l := &Listener{
		subject:   subject,
		transport: t,
		cfg:       cfg,
		call: func(ctx context.Context, data []byte, meta Metadata) (error, error) {
			e, err := Decode[E](data)
			if err != nil {
				return err, nil
			}
			return nil, h(ctx, e, meta)
		},
		metrics:  newHandlerMetrics(string(subject)),
		tracer:   telemetry.Tracer(TracerName),
		spanName: string(subject) + " process",
		sem:      make(chan struct{}, cfg.concurrency),
		stop:     make(chan struct{}),
		drained:  make(chan struct{}),
		subDone:  make(chan struct{}),
	}
	if cfg.deadLetter == nil {
		cfg.deadLetter = l.logDeadLetter
	}
	if cfg.deadSubject != "" {
		hook := cfg.deadLetter
		cfg.deadLetter = func(ctx context.Context, dl DeadLetter) error {
			if err := l.republish(ctx, dl); err != nil {
				return err
			}
			return hook(ctx, dl)
		}
	}
	l.cfg = cfg
	l.acked = newRecentKeys(min(max(4*cfg.maxInFlight, 4096), 1<<16))
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.sub, err = t.Subscribe(ctx, string(subject), SubscribeOptions{
		QueueGroup:  queueGroup,
		Durable:     cfg.durable,
		DeliverAll:  cfg.deliverAll,
		ManualAck:   cfg.manualAck,
		AckWait:     cfg.ackWait,
		MaxInFlight: cfg.maxInFlight,
	}, l.deliver)
	if err != nil {
		l.cancel()
		return nil, fmt.Errorf("events: subscribe %s: %w", subject, err)
	}
	return l, nil
}

// Subject returns the subject the Listener consumes.
func (l *Listener) Subject() Subject { return l.subject }

// deliver is the Transport's callback. It hands the message to a handler
// slot, blocking while all are busy so the broker's in-flight limit is the
// only buffer.
func (l *Listener) deliver(m Message) {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		l.observe(m.Metadata(), time.Time{}, Dropped)
		return
	}
	l.inflight.Add(1)
	l.mu.Unlock()
	if l.cfg.concurrency == 1 {
		l.process(m)
		return
	}
	select {
	case l.sem <- struct{}{}:
		go func() {
			defer func() { <-l.sem }()
			l.process(m)
		}()
	case <-l.stop:
		l.inflight.Done()
		l.observe(m.Metadata(), time.Time{}, Dropped)
	}
}

func (l *Listener) process(m Message) {
	defer l.inflight.Done()
	meta := m.Metadata()
	start := time.Now()
	key := messageKey(meta)
	// A broker redelivers what stayed unacknowledged for its ack wait,
	// messages still queued in this process among them: with a slow
	// handler and a full in-flight window (a backlog), most of what
	// arrives is copies of messages handled since. They are acknowledged
	// again without the handler, whose database round trip each of them
	// used to cost: the copies then outran the handler, and the queue of
	// them grew until no new message was handled (issue 20).
	if (meta.Redelivered || meta.DeliveryCount > 1) && l.wasAcked(key) {
		if l.cfg.manualAck {
			_ = m.Ack() // a failed ack: it comes back, and is skipped again
		}
		l.observe(meta, start, Redundant)
		return
	}
	// An event refused as early is handled again only after a backoff
	// (see earlyBackoff): until then its deliveries wait on the broker
	// without a database round trip each.
	if l.earlyWaiting(key, start) {
		if n := l.outOfOrderDeliveries(meta); n >= l.cfg.maxOutOfOrder {
			l.park(m, meta, n, fmt.Errorf("%w (when last handled)", ErrOutOfOrder), start)
			return
		}
		if l.cfg.manualAck {
			_ = m.Nack()
		}
		l.observe(meta, start, Deferred)
		return
	}
	l.stallStart.CompareAndSwap(0, start.UnixNano())
	// The consumer span continues the publisher's trace (headers permit),
	// and the handler's ctx carries it: its own publishes and outbox
	// writes continue the trace in turn.
	ctx, span := telemetry.StartSpan(telemetry.Extract(l.ctx, meta.Header), l.tracer, l.spanName, string(l.subject), "process", telemetry.ConsumerKind,
		attribute.Int64("messaging.message.delivery_count", int64(meta.DeliveryCount)))
	decodeErr, handlerErr, panicked := l.run(ctx, m.Data(), meta)
	defer func() { telemetry.EndSpan(span, errors.Join(decodeErr, handlerErr)) }()
	switch {
	case decodeErr != nil:
		l.giveUp(m, meta, decodeErr, start)
	case handlerErr == nil:
		l.forgetEarly(key)
		if l.cfg.manualAck {
			if err := m.Ack(); err != nil {
				l.cfg.logger.Warn("ack failed; the message will be redelivered", l.attrs(meta, err)...)
			}
		}
		l.rememberAcked(key)
		l.observe(meta, start, Acked)
	case errors.Is(handlerErr, ErrOutOfOrder):
		// Waiting for the missing version is no failure: never counted
		// against MaxDeliveries (one dead letter would take every later
		// version of the aggregate with it), but reported once it lasts,
		// and bounded by MaxOutOfOrderDeliveries.
		n := l.outOfOrderDeliveries(meta)
		if n >= l.cfg.maxOutOfOrder {
			l.park(m, meta, n, handlerErr, start)
			return
		}
		l.refusedEarly(key, start)
		if l.cfg.manualAck {
			_ = m.Nack()
		}
		level := slog.LevelDebug
		if n > l.cfg.warnOutOfOrder {
			level = slog.LevelWarn
		}
		l.cfg.logger.Log(l.ctx, level, "event arrived before its predecessor; it will be redelivered (see events, Ordering, to resync a consumer whose predecessor never comes)", l.attrs(meta, handlerErr)...)
		l.observe(meta, start, Deferred)
	case errors.Is(handlerErr, errPermanent),
		l.cfg.maxDeliveries > 0 && meta.DeliveryCount >= l.cfg.maxDeliveries:
		l.giveUp(m, meta, handlerErr, start)
	default:
		if l.cfg.manualAck {
			_ = m.Nack() // a failed nack only means waiting for the ack wait
		}
		l.cfg.logger.Warn("handler failed; the message will be redelivered", l.attrs(meta, handlerErr)...)
		outcome := Failed
		if panicked {
			outcome = Panicked
		}
		l.observe(meta, start, outcome)
	}
}

// run calls the handler, turning a panic into an error so one bad event
// can't take the service down.
func (l *Listener) run(ctx context.Context, data []byte, meta Metadata) (decodeErr, handlerErr error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			handlerErr = fmt.Errorf("events: handler panicked: %v", r)
			l.cfg.logger.Error("handler panicked", append(l.attrs(meta, handlerErr), "stack", string(debug.Stack()))...)
		}
	}()
	decodeErr, handlerErr = l.call(ctx, data, meta)
	return decodeErr, handlerErr, false
}

// maxDeadLetterAttempts bounds how often a message comes back because its
// dead-letter path failed: after that it is logged and acknowledged, so no
// message is redelivered for ever.
const maxDeadLetterAttempts = 5

// giveUp hands a message to the dead-letter hook and then tells the broker
// never to redeliver it. If the hook fails, the message stays unacknowledged
// so that a passing failure (the broker down) loses nothing: one that
// matches ErrUnavailable is waited out however long it lasts, each such
// message waiting on the broker (bounded by the subscription's in-flight
// limit). One that can't pass (events.Permanent: a payload the broker
// refuses on the dead-letter subject) or keeps failing otherwise ends the
// message here, logged at Error with what identifies it.
func (l *Listener) giveUp(m Message, meta Metadata, cause error, start time.Time) {
	l.giveUpAs(m, meta, cause, start, DeadLettered)
}

// giveUpAs is giveUp reporting a recorded message as outcome.
func (l *Listener) giveUpAs(m Message, meta Metadata, cause error, start time.Time, outcome Outcome) {
	l.forgetEarly(messageKey(meta))
	dl := DeadLetter{Metadata: meta, Data: m.Data(), Err: cause}
	if err := l.cfg.deadLetter(l.ctx, dl); err != nil {
		if IsPermanent(err) || (!errors.Is(err, ErrUnavailable) && l.deadLetterFailures(meta) >= maxDeadLetterAttempts) {
			sum := sha256.Sum256(dl.Data)
			payload := dl.Data[:min(len(dl.Data), maxLoggedPayload)]
			l.cfg.logger.Error("dead letter could not be recorded; acknowledged, this log line is its only record",
				append(l.attrs(meta, err), "cause", cause, "bytes", len(dl.Data), "sha256", hex.EncodeToString(sum[:]),
					"payload", string(payload), "truncated", len(payload) < len(dl.Data))...)
			if l.cfg.manualAck {
				_ = m.Term()
			}
			l.rememberAcked(messageKey(meta))
			l.observe(meta, start, outcome)
			return
		}
		l.cfg.logger.Error("dead-letter hook failed; the message will be redelivered", l.attrs(meta, err)...)
		if l.cfg.manualAck {
			_ = m.Nack()
		}
		l.observe(meta, start, Failed)
		return
	}
	if l.cfg.manualAck {
		if err := m.Term(); err != nil {
			l.cfg.logger.Warn("terminating a dead letter failed; it may be dead-lettered again", l.attrs(meta, err)...)
		}
	}
	// A copy already on its way (redelivered before the Term arrived) is
	// acknowledged without being dead-lettered again.
	l.rememberAcked(messageKey(meta))
	l.observe(meta, start, outcome)
}

// outOfOrderDeliveries counts the deliveries of a message its handler
// refused as early: its delivery count where the transport tells it, else
// this Listener's own count (bounded).
func (l *Listener) outOfOrderDeliveries(meta Metadata) int {
	if meta.DeliveryCount > 0 {
		return meta.DeliveryCount
	}
	return l.count(&l.earlyCounts, meta)
}

// deadLetterFailures counts the failed dead-letter attempts of a message,
// this one included: its delivery count where the transport tells it,
// else this Listener's own count (bounded).
func (l *Listener) deadLetterFailures(meta Metadata) int {
	if meta.DeliveryCount > 0 {
		return meta.DeliveryCount
	}
	return l.count(&l.dlFailures, meta)
}

// count adds one to the message's count in *m (reset past 10,000 keys)
// and returns it.
func (l *Listener) count(m *map[string]int, meta Metadata) int {
	key := meta.Subject + "\x00" + strconv.FormatUint(meta.Sequence, 10)
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if *m == nil || len(*m) > 10_000 {
		*m = make(map[string]int)
	}
	(*m)[key]++
	return (*m)[key]
}

// maxLoggedPayload bounds how much of a dead letter reaches the logs.
const maxLoggedPayload = 256

func (l *Listener) logDeadLetter(_ context.Context, dl DeadLetter) error {
	payload := dl.Data
	truncated := len(payload) > maxLoggedPayload
	if truncated {
		payload = payload[:maxLoggedPayload]
	}
	l.cfg.logger.Warn("dead letter: acknowledged without handling",
		append(l.attrs(dl.Metadata, dl.Err), "payload", string(payload), "truncated", truncated)...)
	return nil
}

func (l *Listener) republish(ctx context.Context, dl DeadLetter) error {
	// The ID is the source message's, so a hook run twice for one message
	// (its first ack lost) is deduplicated by brokers that can.
	id := MessageID(Subject(l.cfg.deadSubject), dl.Subject, int64(dl.Sequence))
	err := l.transport.Publish(ctx, Outgoing{Subject: l.cfg.deadSubject, Data: dl.Data, ID: id, Header: deadLetterHeader(dl)})
	if err != nil {
		return fmt.Errorf("events: republish dead letter to %s: %w", l.cfg.deadSubject, err)
	}
	return nil
}

// deadLetterHeader says where a dead letter came from and why, on a
// transport that carries headers (on NATS Streaming, only the dead-letter
// subject tells the source, hence one per source subject there). The
// source message's own headers, its trace context among them, come along.
func deadLetterHeader(dl DeadLetter) Header {
	h := dl.Header.Clone()
	if h == nil {
		h = Header{}
	}
	h.Set(HeaderDeadSubject, dl.Subject)
	h.Set(HeaderDeadSequence, strconv.FormatUint(dl.Sequence, 10))
	h.Set(HeaderDeadDelivery, strconv.Itoa(dl.DeliveryCount))
	if dl.Err != nil {
		reason := dl.Err.Error()
		if len(reason) > maxHeaderReason {
			reason = reason[:maxHeaderReason]
		}
		h.Set(HeaderDeadError, strings.ToValidUTF8(strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, reason), "?"))
	}
	return h
}

// maxHeaderReason bounds the error a dead letter's header carries.
const maxHeaderReason = 512

func (l *Listener) attrs(meta Metadata, err error) []any {
	return []any{"subject", meta.Subject, "sequence", meta.Sequence, "delivery", meta.DeliveryCount, "error", err}
}

// observe reports a delivery's outcome to the Handled hook, timed from
// start (zero: no duration).
func (l *Listener) observe(meta Metadata, start time.Time, o Outcome) {
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	l.metrics.record(d, o)
	l.progress(o, start)
	if l.cfg.hooks.Handled != nil {
		l.cfg.hooks.Handled(meta, d, o)
	}
}

// Close stops taking messages, waits for running handlers to finish (as
// long as ctx allows; then it cancels their context and stops waiting) and
// closes the subscription without forgetting a durable's position. Messages
// that arrive meanwhile are left unacknowledged for redelivery. Close is
// idempotent and safe to call concurrently.
func (l *Listener) Close(ctx context.Context) error {
	l.mu.Lock()
	first := !l.closing
	l.closing = true
	l.mu.Unlock()
	if first {
		close(l.stop)
		go func() {
			l.inflight.Wait()
			close(l.drained)
		}()
	}
	var waitErr error
	select {
	case <-l.drained:
	case <-ctx.Done():
		l.cancel()
		waitErr = fmt.Errorf("events: close %s: handlers still running: %w", l.subject, ctx.Err())
	}
	// The subscription closes in the background, and Close waits for it
	// within ctx only: a transport may wait for a handler that ignores its
	// context, and Close returns by ctx's deadline whatever the handler
	// does. A later Close waits for the same closing.
	l.subOnce.Do(func() {
		go func() {
			defer close(l.subDone)
			if err := l.sub.Close(context.WithoutCancel(ctx)); err != nil {
				l.subErr = fmt.Errorf("events: close %s subscription: %w", l.subject, err)
			}
		}()
	})
	var subErr error
	select {
	case <-l.subDone:
		subErr = l.subErr
	case <-ctx.Done():
		subErr = fmt.Errorf("events: close %s subscription: %w", l.subject, ctx.Err())
	}
	if waitErr == nil {
		l.cancel()
	}
	return errors.Join(waitErr, subErr)
}

// ErrGap is wrapped by the error a Listener dead-letters an event with when
// its handler still refused it as early (ErrOutOfOrder) on its
// MaxOutOfOrderDeliveries-th delivery: its predecessor never came. See the
// package documentation, Ordering, for the resync.
var ErrGap = errors.New("events: gap: the event's predecessor never came")

// ErrStalled is wrapped by Stalled's error.
var ErrStalled = errors.New("events: listener stalled")

// Stalled returns an error wrapping ErrStalled when the Listener has made
// no progress for StallAfter while messages wait: its handler has been
// called (and is running, failed, or refused the message as early) and no
// message since was acknowledged or dead-lettered. An idle Listener, and
// one skipping redeliveries of what it already acknowledged, is not
// stalled. service.Listen makes it a readiness check.
func (l *Listener) Stalled() error {
	since := l.stallStart.Load()
	if since == 0 {
		return nil
	}
	if d := time.Since(time.Unix(0, since)); d > l.cfg.stallAfter {
		return fmt.Errorf("%w: %s: no message acknowledged or dead-lettered for %v while messages wait", ErrStalled, l.subject, d.Round(time.Second))
	}
	return nil
}

// progress records how a delivery ended for Stalled, and logs a stall at
// Warn once (and its end at Info).
func (l *Listener) progress(o Outcome, start time.Time) {
	switch o {
	case Acked, DeadLettered, Parked:
		l.stallStart.Store(0)
		if l.stallWarned.CompareAndSwap(true, false) {
			l.cfg.logger.Info("listener makes progress again", "subject", string(l.subject))
		}
	case Failed, Panicked, Deferred:
		l.stallStart.CompareAndSwap(0, start.UnixNano())
		if err := l.Stalled(); err != nil && l.stallWarned.CompareAndSwap(false, true) {
			l.cfg.logger.Warn("listener stalled: messages wait and none is dealt with", "subject", string(l.subject), "error", err)
		}
	}
}

// park dead-letters a message that is still early on its n-th delivery,
// with a cause wrapping ErrGap.
func (l *Listener) park(m Message, meta Metadata, n int, cause error, start time.Time) {
	err := fmt.Errorf("%w: still out of order on delivery %d: %w", ErrGap, n, cause)
	l.cfg.logger.Warn("event parked as a gap: its predecessor never came; resync the aggregate from its owner, then replay the parked event (see events, Ordering)",
		l.attrs(meta, err)...)
	l.giveUpAs(m, meta, err, start, Parked)
}

// messageKey identifies a message for the Listener's own bookkeeping.
func messageKey(meta Metadata) string {
	return meta.Subject + "\x00" + strconv.FormatUint(meta.Sequence, 10)
}

func (l *Listener) wasAcked(key string) bool {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	return l.acked.has(key)
}

func (l *Listener) rememberAcked(key string) {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	l.acked.add(key)
}

// earlyRetry is when an event refused as early is next worth handling.
type earlyRetry struct {
	next     time.Time
	refusals int
}

// maxEarlyTracked bounds the events refused as early that a Listener
// remembers; past it, it forgets them all, which only costs handler calls.
const maxEarlyTracked = 1 << 16

// earlyBackoff is how long after its n-th refusal an early event is
// handled again: the ack wait, doubling with each refusal, at most four
// ack waits. Deliveries before then are left for redelivery without a
// handler call, so that events waiting for predecessors far back in a
// backlog don't take the database from the events that bring those.
func (l *Listener) earlyBackoff(n int) time.Duration {
	const maxEarlyBackoff = 4 // ack waits: an event waits up to that long after its predecessor came
	d := l.cfg.ackWait
	for i := 1; i < n && d < maxEarlyBackoff*l.cfg.ackWait; i++ {
		d *= 2
	}
	return min(d, maxEarlyBackoff*l.cfg.ackWait)
}

// refusedEarly records a refusal of the message as early.
func (l *Listener) refusedEarly(key string, now time.Time) {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if l.early == nil || len(l.early) >= maxEarlyTracked {
		l.early = make(map[string]earlyRetry)
	}
	r := l.early[key]
	r.refusals++
	// Half an ack wait early, so that the redelivery due then is not
	// skipped for a few milliseconds.
	r.next = now.Add(l.earlyBackoff(r.refusals) - l.cfg.ackWait/2)
	l.early[key] = r
}

// earlyWaiting reports whether the message was refused as early and its
// backoff has not passed.
func (l *Listener) earlyWaiting(key string, now time.Time) bool {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	r, ok := l.early[key]
	return ok && now.Before(r.next)
}

func (l *Listener) forgetEarly(key string) {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	delete(l.early, key)
}

// recentKeys is a set that keeps its last n keys.
type recentKeys struct {
	keys map[string]struct{}
	ring []string
	next int
}

func newRecentKeys(n int) recentKeys {
	return recentKeys{keys: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (r *recentKeys) has(k string) bool {
	_, ok := r.keys[k]
	return ok
}

func (r *recentKeys) add(k string) {
	if r.has(k) {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.keys, old)
	}
	r.ring[r.next] = k
	r.keys[k] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
