package jsclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ticketkit/ticketkit/natsclient"
	"github.com/ticketkit/ticketkit/natsclient/jsclient"
)

// A service tests errors and states alike on either transport.
func TestStateAndSentinelsAreNatsclients(t *testing.T) {
	_, err := jsclient.Connect(context.Background(), jsclient.Config{})
	if !errors.Is(err, natsclient.ErrInvalidConfig) {
		t.Fatalf("Connect with an empty Config = %v, want natsclient.ErrInvalidConfig", err)
	}
	for _, pair := range [][2]error{
		{natsclient.ErrInvalidConfig, natsclient.ErrInvalidConfig},
		{natsclient.ErrDisconnected, natsclient.ErrDisconnected},
		{natsclient.ErrClosed, natsclient.ErrClosed},
		{natsclient.ErrInvalidSubject, natsclient.ErrInvalidSubject},
	} {
		if pair[0] != pair[1] {
			t.Errorf("jsclient's %v is not natsclient's", pair[0])
		}
	}
	var s natsclient.State = natsclient.Reconnecting
	if s != natsclient.Reconnecting || s.String() != "reconnecting" {
		t.Errorf("natsclient.Reconnecting = %v", s)
	}
}
