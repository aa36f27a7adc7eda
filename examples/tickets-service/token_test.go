package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/session"
)

const alice = "a11ce0000000000000000001"

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func TestTokenCommand(t *testing.T) {
	for _, key := range []string{"", "custom-key"} {
		t.Run(fmt.Sprintf("JWT_KEY=%q", key), func(t *testing.T) {
			var out bytes.Buffer
			err := tokenCommand([]string{"-id", alice, "-email", "a@b.c"}, env(map[string]string{"JWT_KEY": key}), &out)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "Cookie: express:sess=") || lines[2] != "Authorization: Bearer "+lines[0] {
				t.Fatalf("output:\n%s", out.String())
			}
			verifyKey := key
			if key == "" {
				verifyKey = service.DevJWTKey
			}
			v, err := session.NewVerifier([]byte(verifyKey))
			if err != nil {
				t.Fatal(err)
			}
			for _, header := range []string{lines[1], lines[2]} {
				name, value, _ := strings.Cut(header, ": ")
				req, _ := http.NewRequest("GET", "/", nil)
				req.Header.Set(name, value)
				u, err := v.User(req)
				if err != nil || u.ID != alice || u.Email != "a@b.c" {
					t.Errorf("%s: user %+v, error %v", name, u, err)
				}
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		var out bytes.Buffer
		if err := tokenCommand(nil, env(nil), &out); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+strings.Split(out.String(), "\n")[0])
		v, err := session.NewVerifier([]byte(service.DevJWTKey))
		if err != nil {
			t.Fatal(err)
		}
		if u, err := v.User(req); err != nil || len(u.ID) != 24 {
			t.Errorf("user %+v, error %v", u, err)
		}
	})
}

func TestTokenCommandRefusesBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := tokenCommand([]string{"-bogus"}, env(nil), &out); err == nil || !strings.Contains(err.Error(), "-bogus") {
		t.Fatalf("error %v, want one naming -bogus", err)
	}
	if err := tokenCommand([]string{"-id", "x", "extra"}, env(nil), &out); err == nil {
		t.Fatal("an extra argument was accepted")
	}
}
