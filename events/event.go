package events

// Subject names a channel. Each Event type has exactly one.
type Subject string

// Event is a payload that knows its subject. Publisher and Listener take the
// subject from the type, so a payload can't be sent on the wrong subject.
// A payload that also has a Validate() error method is checked by Decode,
// so one that parses but can't be acted on is dead-lettered rather than
// retried forever.
type Event interface {
	Subject() Subject
}
