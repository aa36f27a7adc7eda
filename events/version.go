package events

import (
	"errors"
	"fmt"
)

// Ordering is what a replica should do with a versioned event.
type Ordering uint8

const (
	// Apply: the event is the next version; apply it and acknowledge.
	Apply Ordering = iota
	// Duplicate: the version is already applied (a redelivery); acknowledge
	// and do nothing.
	Duplicate
	// OutOfOrder: a version in between is missing; don't acknowledge, so the
	// broker brings the event back after the missing one had its chance.
	OutOfOrder
)

func (o Ordering) String() string {
	names := [...]string{"apply", "duplicate", "out of order"}
	if int(o) < len(names) {
		return names[o]
	}
	return fmt.Sprintf("Ordering(%d)", uint8(o))
}

// NoVersion is the stored version of an aggregate a replica has never
// seen, so that its first event, version 0, is the one to apply.
const NoVersion int64 = -1

// CompareVersion tells a replica holding stored (NoVersion if it holds
// nothing) what to do with an event carrying incoming. The cluster's
// aggregates start at version 0 and grow by one per event.
func CompareVersion(stored, incoming int64) Ordering {
	switch {
	case incoming == stored+1:
		return Apply
	case incoming <= stored:
		return Duplicate
	default:
		return OutOfOrder
	}
}

// ErrOutOfOrder is what a handler returns for an OutOfOrder event. The
// Listener leaves the message unacknowledged and logs it at debug level
// only, since waiting for the missing version is the normal course.
var ErrOutOfOrder = errors.New("events: event arrived before its predecessor")
