package password_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit/password"
)

// testdata/node-scrypt.json was made by Node 20's crypto, exactly as the
// Node auth service's Password.toHash does it:
//
//	node -e 'const c=require("crypto"); for (const pw of [...]) {
//	  const salt=c.randomBytes(8).toString("hex");
//	  console.log(c.scryptSync(pw,salt,64).toString("hex")+"."+salt) }'
func TestVerifiesNodeHashes(t *testing.T) {
	raw, err := os.ReadFile("testdata/node-scrypt.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Password, Stored string }
	if err := json.Unmarshal(raw, &vectors); err != nil || len(vectors) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range vectors {
		ok, err := password.Verify(v.Stored, v.Password)
		if err != nil || !ok {
			t.Errorf("Verify(node's hash of %q) = %v, %v; want true", v.Password, ok, err)
		}
		ok, err = password.Verify(v.Stored, v.Password+"x")
		if err != nil || ok {
			t.Errorf("Verify(node's hash of %q, another password) = %v, %v; want false", v.Password, ok, err)
		}
	}
}

func TestHashRoundTrip(t *testing.T) {
	h, err := password.Hash("password")
	if err != nil {
		t.Fatal(err)
	}
	hashHex, salt, _ := strings.Cut(h, ".")
	if len(hashHex) != 128 || len(salt) != 16 || strings.Trim(hashHex+salt, "0123456789abcdef") != "" {
		t.Errorf("Hash = %q, want 128 hex . 16 hex", h)
	}
	if ok, err := password.Verify(h, "password"); !ok || err != nil {
		t.Errorf("Verify of its own hash = %v, %v", ok, err)
	}
	if ok, err := password.Verify(h, "Password"); ok || err != nil {
		t.Errorf("Verify of another password = %v, %v", ok, err)
	}
	h2, err := password.Hash("password")
	if err != nil || h2 == h {
		t.Errorf("two hashes of one password are equal (%v): the salt is not random", err)
	}
}

func TestMalformed(t *testing.T) {
	good, err := password.Hash("password")
	if err != nil {
		t.Fatal(err)
	}
	hashHex, salt, _ := strings.Cut(good, ".")
	for _, stored := range []string{"", "password", hashHex, hashHex + ".", "." + salt, hashHex[2:] + "." + salt,
		strings.Repeat("zz", 64) + "." + salt, hashHex + "." + salt + ".x"} {
		if ok, err := password.Verify(stored, "password"); ok || !errors.Is(err, password.ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", stored, ok, err)
		}
	}
}
