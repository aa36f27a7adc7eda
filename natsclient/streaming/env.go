package streaming

import (
	"fmt"

	"github.com/ticketkit/ticketkit/natsclient"
)

// FromEnv reads the cluster's NATS_URL, NATS_CLUSTER_ID, NATS_CLIENT_ID
// and credentials (natsclient.FromEnv) and checks the Config as Connect
// would, every problem reported at once.
func FromEnv(getenv func(string) string) (natsclient.Config, error) {
	cfg := natsclient.FromEnv(getenv)
	if _, err := withDefaults(cfg); err != nil {
		return cfg, fmt.Errorf("%w (from %s, %s, %s)", err, natsclient.EnvURL, natsclient.EnvClusterID, natsclient.EnvClientID)
	}
	return cfg, nil
}
