package streaming

import (
	"time"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/internal/natsconn"
)

// Defaults Connect applies to zero fields besides natsclient's.
const (
	DefaultAckTimeout         = 30 * time.Second
	DefaultMaxPubAcksInFlight = 16384
)

// withDefaults validates cfg for NATS Streaming and returns it defaulted,
// as natsconn.Settings. All problems are reported at once, so fixing a
// config takes one round.
func withDefaults(cfg natsclient.Config) (natsconn.Settings, error) {
	var p natsconn.Problems
	if cfg.ClusterID == "" {
		p.Add("ClusterID is empty")
	}
	switch {
	case cfg.ClientID == "":
		p.Add("ClientID is empty")
	case !natsclient.ValidName(cfg.ClientID):
		p.Add("ClientID %q may only contain letters, digits, '-' and '_'", cfg.ClientID)
	}
	s := natsconn.Settings{Config: cfg}
	if s.Name == "" {
		s.Name = cfg.ClientID
	}
	// stan refuses 1: a single unanswered ping would close the connection.
	s.Check(&p, 2)
	p.Duration("AckTimeout", &s.AckTimeout, DefaultAckTimeout)
	switch {
	case s.MaxPubAcksInFlight == 0:
		s.MaxPubAcksInFlight = DefaultMaxPubAcksInFlight
	case s.MaxPubAcksInFlight < 0:
		p.Add("MaxPubAcksInFlight %d is negative", s.MaxPubAcksInFlight)
	}
	return s, p.Err("streaming")
}
