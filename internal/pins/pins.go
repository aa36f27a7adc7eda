//go:build tools

// Package pins holds ticketkit's requirements on modules that no package
// of ticketkit links: those the NATS servers' own packages import.
//
// stan.go's go.mod predates module pruning, so an adopter's `go mod tidy`
// loads the packages its tests import (the NATS Streaming server) and
// theirs, and looks up every module that provides one. Without a
// requirement here it records whatever version is newest that day, and
// prints "finding module for package" for each. With these imports, under
// a build tag nothing builds with, tidy keeps ticketkit's requirements on
// them at the versions the servers pinned in go.mod were built with, and an
// adopter's tidy finds them all there. .ci/modcheck fails if a lookup
// comes back.
package pins

import (
	_ "github.com/antithesishq/antithesis-sdk-go/assert"
	_ "github.com/google/go-tpm/legacy/tpm2"
	_ "github.com/google/go-tpm/tpmutil"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-msgpack/v2/codec"
	_ "github.com/hashicorp/raft"
	_ "github.com/minio/highwayhash"
	_ "github.com/nats-io/jwt/v2"
	_ "go.etcd.io/bbolt"
)
