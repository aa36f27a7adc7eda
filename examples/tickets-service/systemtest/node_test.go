package systemtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nodePayload reads one of the Node services' wire samples and puts the
// given ids in: the service is fed the exact bytes Node publishes.
func nodePayload(t *testing.T, name, ticketID, orderID string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "wire", "testdata", "node", name))
	if err != nil {
		t.Fatal(err)
	}
	const sampleTicket, sampleOrder = "3eb8e907a00cf854c97a276b", "b28f8525b4eeb8afd1108ad6"
	if !bytes.Contains(data, []byte(sampleTicket)) || !bytes.Contains(data, []byte(sampleOrder)) {
		t.Fatalf("%s no longer holds the sample ids", name)
	}
	s := strings.ReplaceAll(string(bytes.TrimSpace(data)), sampleTicket, ticketID)
	return strings.ReplaceAll(s, sampleOrder, orderID)
}

func orderCreated(t *testing.T, ticketID, orderID string) string {
	return nodePayload(t, "order-created.json", ticketID, orderID)
}

func orderCancelled(t *testing.T, ticketID, orderID string) string {
	return nodePayload(t, "order-cancelled.json", ticketID, orderID)
}
