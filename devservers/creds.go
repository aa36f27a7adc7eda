package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// The files `creds` writes, which -jwt reads.
const (
	credsOperator = "operator.jwt" // a self-signed operator
	credsAccount  = "account.jwt"  // an account of the operator, with JetStream
	credsSystem   = "system.jwt"   // the operator's system account, which JetStream needs
	credsUser     = "user.creds"   // a user of the account: its JWT and seed
	credsNKeySeed = "nkey.seed"    // an NKey user's seed, for -nkey
	credsNKeyPub  = "nkey.pub"     // and its public key
)

// creds writes fresh NATS credentials into a directory, and prints their
// paths: an operator, its system account, and an account and user for
// decentralized JWT auth (-jwt),
// and an NKey user (-nkey). Each run makes new keys, so the credentials of
// one run are wrong credentials for a server started with another's.
func creds(args []string) int {
	fs := flag.NewFlagSet("creds", flag.ExitOnError)
	dir := fs.String("dir", "", "`directory` to write to (required)")
	_ = fs.Parse(args)
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	files, err := makeCreds()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fail(err)
	}
	for _, name := range []string{credsOperator, credsSystem, credsAccount, credsUser, credsNKeySeed, credsNKeyPub} {
		path := filepath.Join(*dir, name)
		if err := os.WriteFile(path, files[name], 0o600); err != nil {
			return fail(err)
		}
		fmt.Println(path)
	}
	return 0
}

func makeCreds() (map[string][]byte, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	system, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	account, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	nkeyUser, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	opPub, _ := op.PublicKey()
	systemPub, _ := system.PublicKey()
	accountPub, _ := account.PublicKey()
	userPub, _ := user.PublicKey()
	userSeed, _ := user.Seed()
	nkeySeed, _ := nkeyUser.Seed()
	nkeyPub, _ := nkeyUser.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "devservers"
	oc.SystemAccount = systemPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		return nil, err
	}
	sc := jwt.NewAccountClaims(systemPub)
	sc.Name = "SYS"
	systemJWT, err := sc.Encode(op)
	if err != nil {
		return nil, err
	}
	ac := jwt.NewAccountClaims(accountPub)
	ac.Name = "ticketkit"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{
		MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit, Streams: jwt.NoLimit, Consumer: jwt.NoLimit,
	}
	accountJWT, err := ac.Encode(op)
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(userPub)
	uc.Name = "ticketkit"
	userJWT, err := uc.Encode(account)
	if err != nil {
		return nil, err
	}
	userCreds, err := jwt.FormatUserConfig(userJWT, userSeed)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		credsOperator: []byte(opJWT),
		credsSystem:   []byte(systemJWT),
		credsAccount:  []byte(accountJWT),
		credsUser:     userCreds,
		credsNKeySeed: nkeySeed,
		credsNKeyPub:  []byte(nkeyPub),
	}, nil
}
