package events

import (
	"fmt"

	"github.com/google/uuid"
)

// messageIDs is the namespace of the ids derived in MessageID.
var messageIDs = uuid.MustParse("6f3c9a52-2b7e-4c1d-9e55-7a1f0c2d8b34")

// MessageID is the message id of the event for version of aggregate id on
// subject: a name-based UUID, so every publish of the same event, by any
// relay and after any crash, carries the same id and a deduplicating
// broker keeps only one.
func MessageID(subject Subject, id string, version int64) string {
	return uuid.NewSHA1(messageIDs, fmt.Appendf(nil, "%s/%s/%d", subject, id, version)).String()
}
