// Package outbox is the transactional outbox every service of the cluster
// builds on: a saved change never loses its event, without multi-document
// transactions, and without a database write per published event.
//
// A store (mongostore, memstore) writes each change of an aggregate
// together with its Entries (the encoded events) in one single-document
// write. A Relay publishes them on an events.Transport. The package holds
// what is the same for every store: the Entry, the in-memory Queue through
// which a store hands committed entries to its Relay, the Driver interface
// a store implements for the Relay, the Relay itself, and (in outboxtest)
// the conformance suite every Driver passes.
//
// # Writers, sequence numbers and the horizon
//
// Every process that writes is a writer, with an id of its own and a lease
// in the store. Each entry it writes is stamped with the writer's id and a
// sequence number from the writer's Queue. After a write commits, the
// store hands its entries to the Queue, and the Relay publishes them from
// memory: finding fresh work costs no database read.
//
// Publishing an entry writes nothing per entry either. The Relay keeps the
// writer's horizon, the highest sequence number up to which every entry is
// settled (published, dead-lettered, or certainly never written), and
// records it in the writer's lease with its heartbeat, once per beat
// (Driver.Beat), whatever the number of events. Entries stay in their
// documents until the store trims them; the horizons say which are done.
//
// # Many instances
//
// Instances that share a store publish only their own entries, so they
// don't duplicate each other. A writer whose heartbeat stops (its beat
// counter doesn't move for the writer TTL, as seen on the observer's own
// clock, so clock skew between hosts doesn't matter) is claimed by one live
// Relay with a compare-and-set on its lease (Driver.Claim). The claimant
// reads the dead writer's entries above its horizon (Driver.Recover),
// publishes them, and retires the lease (Driver.Retire). Entries the dead
// writer had published after its last beat go out again, with the same
// MessageID: duplicates come only after a crash, and JetStream drops them.
//
// A writer keeps writing only while its lease is fresh (renewed within half
// the TTL): a process cut off from the database for longer stops writing
// before anyone may take it over, so a takeover never misses a late write.
// The fence is half the TTL from when the last confirmed beat was sent.
// Beats go out every beat interval without waiting for the one before
// (each is given up after half the TTL, when it could no longer move the
// fence), and apart from the reads that watch the other writers, so a
// database that answers in seconds keeps the lease as long as it answers
// within half the TTL; a store can also send them over connections of
// their own (mongostore.WithLeaseDatabase), so they don't queue behind
// the writes they fence. A lapse is logged once at Warn with its cause
// (the beats in flight and for how long, the last one's latency or
// error), its end at Info with the writes it refused, and both are
// counted in Stats (Lapses, Refused) and the metrics.
//
// # Failures
//
// A failed publish is retried with backoff per entry, so one aggregate
// whose events keep failing doesn't hold back the others; its later
// entries wait behind it, keeping each aggregate's events in version
// order. An entry that keeps failing while others go through (or whose
// error is permanent, such as a payload over the broker's limit) is
// dead-lettered after MaxAttempts: logged at Error, recorded by the
// store (Driver.DeadLetter) and reported to the OnDeadLetter hook. It is
// never dropped silently. A write whose outcome the store can't tell (a
// timeout) is looked up again later (Queue.Unsure), and a Queue that
// overflows while the broker is down leaves the rest in the database for
// the Relay to read back (Driver.Recover) once it has caught up.
//
// # Delayed entries
//
// An event wrapped with Delay(e, at) is written like any other, in the
// same single-document write as its change, with its due time
// (Entry.NotBefore), and the Relay holding it publishes it at that time,
// never before: this is how a service schedules an event for later (the
// expiration service's expiration:complete) with no scheduler, Redis or
// other server. It stays unsettled until published, so it survives a
// restart and a crash as any entry does: a Relay that closes leaves its
// delayed entries in the store (Close doesn't wait for them), and the
// instance that takes the writer over recovers
// them with an index range of that writer's entries and publishes each at
// its time, once. While they wait they are not part of the backlog
// (Stats.Delayed counts them), so readiness is unaffected.
//
// A writer's horizon stays below its oldest waiting entry, so each beat
// also records which entries above it are still open (Progress): a
// takeover publishes those, and not the ones published after a delayed
// entry was written. A Relay that closes with delayed entries waiting
// beats a last time to release its lease (Lease.Released), and another
// instance takes them over at once rather than after the TTL; after a
// crash, that takes the TTL. A document's settled entries written after
// a waiting one are trimmed only once it is published; a service whose
// documents carry one delayed event each (an expiration per order) pays
// nothing for that.
//
// Stats reports the backlog and the age of its oldest entry, for readiness
// checks and logs.
package outbox
