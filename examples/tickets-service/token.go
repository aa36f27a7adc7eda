package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ticketkit/ticketkit"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
)

// tokenCommand prints a token for local testing, signed as the auth service
// signs it, with the headers that carry it. It signs with JWT_KEY, or with
// the development key the in-memory service uses when JWT_KEY is unset.
func tokenCommand(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	id := fs.String("id", "", "user `id` (default: a fresh 24-hex id)")
	email := fs.String("email", "dev@example.com", "user `email`")
	ttl := fs.Duration("ttl", 0, "token lifetime; 0 leaves out exp, as the auth service does")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tickets-service token [-id ID] [-email EMAIL] [-ttl DURATION]\n\n"+
			"Prints a token, then the Cookie and Authorization headers that carry it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	if *id == "" {
		*id = ticketkit.NewID()
	}
	key := getenv("JWT_KEY")
	if key == "" {
		key = service.DevJWTKey
	}
	token, err := session.Mint([]byte(key), session.User{ID: *id, Email: *email}, time.Now(), *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stdout, "Cookie: %s\n", session.CookieHeader(token))
	fmt.Fprintf(stdout, "Authorization: Bearer %s\n", token)
	return nil
}
